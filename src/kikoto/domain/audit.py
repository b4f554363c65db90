"""A change someone asked for, from any face, and how it ended: the audit log's record (what
CloudTrail keeps of an ECR call: who, from where, which operation on what, and the error if any)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
# Operations that only read: not changes, not recorded (a pull is counted elsewhere).
READING = ("Describe", "List", "Get", "BatchGet", "BatchCheck")
# A layer's upload is one change, the image's: its parts are recorded as the PutImage that follows.
UPLOADING = ("InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload")


def changes(operation: str) -> bool:
    return not operation.startswith(READING) and operation not in UPLOADING


@dataclass(frozen=True)
class Change:
    actor: str  # the principal's ARN; cli:<user> for an admin command; lifecycle, gc
    action: str  # the API operation (PutImage, DeleteManifest, ...) or the command (keys create)
    source: str = ""  # the client's address; "local" for the CLI
    outcome: str = OK  # or the error the face answered (ImageTagAlreadyExistsException, DENIED, ...)
    repository: str | None = None
    digest: str | None = None
    tag: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "actor": self.actor[:512],
            "action": self.action[:64],
            "source": self.source[:64],
            "outcome": self.outcome[:64],
            "repository": self.repository,
            "digest": self.digest,
            "tag": self.tag,
            "detail": self.detail,
        }
