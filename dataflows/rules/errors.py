"""The one error the rules raise: a raw record they cannot transform."""

from __future__ import annotations

from pulse.errors import ErrorKind, PulseError


class RecordError(PulseError):
    """A raw record is malformed (a required field is missing or invalid) or of an unknown entity.

    Only this record is affected: the dataflow dead-letters it and carries on with the batch,
    hence the skippable kind. The message names the entity, the external id and the field.
    """

    kind = ErrorKind.SKIPPABLE

    def __init__(self, entity: str, external_id: str | None, field: str, problem: str) -> None:
        super().__init__(
            f"{entity} record {external_id!r}: {field} {problem}",
            entity=entity,
            external_id=external_id,
            field=field,
        )
        self.entity = entity
        self.external_id = external_id
        self.field = field
