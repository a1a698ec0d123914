"""Documents (docs/spec/portal.md §5; docs/spec/documents.md §5): upload an ASiC-E
container and see every signature checked by :mod:`sild.doc.verify` against the
portal's trust list (the person CA), or download a container back after checking it.
Nothing uploaded is kept."""

from __future__ import annotations

import base64

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from sild.doc.report import ContainerReport
from sild.doc.trust import TrustList
from sild.doc.verify import verify_container
from sild.errors import SildError
from sild.portal.web import MAX_UPLOAD, BadInput, Renderer, checked_form

__all__ = ["Documents"]


class Documents:
    def __init__(self, render: Renderer, trust: TrustList | None = None) -> None:
        self.render = render
        self.trust = trust or TrustList()

    async def page(self, request: Request) -> Response:
        return self.render(request, "documents.html", {"report": None})

    async def verify(self, request: Request) -> Response:
        form = await checked_form(request, max_size=MAX_UPLOAD)
        try:
            upload = form.get("container")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadInput("choose a signed container (.asice) to verify")
            name = upload.filename[-100:]
            data = await upload.read(MAX_UPLOAD + 1)
        finally:
            await form.close()
        if len(data) > MAX_UPLOAD:
            raise BadInput(f"the container is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
        try:
            report: ContainerReport = await anyio.to_thread.run_sync(
                lambda: verify_container(data, trust=self.trust))
        except SildError as e:
            raise BadInput(f"not a signed container: {e.message}") from e
        return self.render(request, "documents.html", {
            "report": report, "name": name,
            "download": "data:application/vnd.etsi.asic-e+zip;base64,"
                        + base64.b64encode(data).decode()})
