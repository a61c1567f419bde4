"""CRM adapters (Salesforce, HubSpot), manifest and mappings, install and check.

Nothing outside this package imports simple-salesforce or hubspot-api-client: the adapters
speak the protocol in ``types`` and raise the errors in ``errors``.

``defaults/`` holds copies of the top-level manifest.yaml and mappings/ so an installed package
works without the source tree; a test keeps them identical.
"""

from connector.crm.errors import CrmError, FatalCrmError, FieldConflictError, RetriableCrmError
from connector.crm.factory import adapter_from_config
from connector.crm.field_changes import field_changes, follow_up_task, scorecard_field_values
from connector.crm.manifest import Manifest, load_manifest
from connector.crm.mapping import CrmMapping, FieldMapping, SubjectMapping, load_mapping
from connector.crm.types import (
    CheckFinding,
    CrmAdapter,
    CrmRecordRef,
    FieldSpec,
    FollowUpTask,
    RecordKey,
    RecordUpdate,
    Subject,
    WriteOutcome,
)

__all__ = [
    "CheckFinding",
    "CrmAdapter",
    "CrmError",
    "CrmMapping",
    "CrmRecordRef",
    "FatalCrmError",
    "FieldConflictError",
    "FieldMapping",
    "FieldSpec",
    "FollowUpTask",
    "Manifest",
    "RecordKey",
    "RecordUpdate",
    "RetriableCrmError",
    "Subject",
    "SubjectMapping",
    "WriteOutcome",
    "adapter_from_config",
    "field_changes",
    "follow_up_task",
    "load_manifest",
    "load_mapping",
    "scorecard_field_values",
]
