"""The gateway's service configuration: services, endpoints, access rights and local
groups (store, with its snapshot), OpenAPI descriptions, the management API routes and
the registered IS certificates. docs/spec/access.md."""
