"""Keys, certificates and signatures (pyca/cryptography underneath)."""
