"""Documents (docs/spec/portal.md §5; docs/spec/documents.md §5): upload an ASiC-E
container and see every signature checked by :mod:`sild.doc.verify` against the
portal's trust list (the person CA), or download a container back after checking it.
Nothing uploaded is kept."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from sild.doc.report import ContainerReport
from sild.doc.trust import TrustList
from sild.doc.verify import verify_container
from sild.errors import KeyFileError, PinError, SildError
from sild.portal.signing import PersonSigner, sign_files
from sild.portal.web import MAX_UPLOAD, BadInput, Forbidden, Renderer, checked_form

__all__ = ["Documents"]


_NAME = re.compile(r"^[\w .()+-]{1,100}$")


class Documents:
    def __init__(self, render: Renderer, trust: TrustList | None = None,
                 signer: PersonSigner | None = None) -> None:
        self.render = render
        self.trust = trust or TrustList()
        self.signer = signer

    async def page(self, request: Request) -> Response:
        return self.render(request, "documents.html", {"report": None,
                                                       "signing": self.signer is not None})

    async def sign(self, request: Request) -> Response:
        """Sign an uploaded file as the logged-in person (never as a represented child)."""
        form = await checked_form(request, max_size=MAX_UPLOAD)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadInput("choose a file to sign")
            name = Path(upload.filename).name
            if not _NAME.match(name):
                raise BadInput("a file name is 1-100 letters, digits, spaces and . ( ) + - _")
            data = await upload.read(MAX_UPLOAD + 1)
            pin2 = form.get("pin2")
        finally:
            await form.close()
        if len(data) > MAX_UPLOAD:
            raise BadInput(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
        if not isinstance(pin2, str) or not pin2.isdigit() or not 4 <= len(pin2) <= 12:
            raise BadInput("PIN2 is 4-12 digits")
        if self.signer is None:
            raise Forbidden("Signing is not set up in this portal.")
        signer = self.signer
        code = request.state.person.user_code
        try:
            container = await anyio.to_thread.run_sync(
                lambda: sign_files(signer.kit(code, pin2), {name: data}))
        except PinError as e:
            raise Forbidden(e.message) from e
        except KeyFileError as e:
            raise Forbidden(f"You cannot sign here: {e.message}") from e
        except SildError as e:
            raise BadInput(f"the document could not be signed: {e.message}") from e
        stem = name.rsplit(".", 1)[0] or "document"
        return Response(container, media_type="application/vnd.etsi.asic-e+zip", headers={
            "Content-Disposition": f'attachment; filename="{stem}.asice"'})

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
            "report": report, "name": name, "signing": self.signer is not None,
            "download": "data:application/vnd.etsi.asic-e+zip;base64,"
                        + base64.b64encode(data).decode()})
