//! The CSDL shapes of the cross-tenant synchronization calls' answers (Microsoft Graph v1.0,
//! `microsoftgraph/msgraph-metadata` `schemas/v1.0-Prod.csdl`; each type's resource page under
//! `api-reference/v1.0/resources/` in microsoft-graph-docs-contrib lists the same properties).
//! The synchronization enums are PascalCase in the CSDL (`synchronizationStatusCode`:
//! `NotConfigured`, `NotRun`, `Active`, `Paused`, `Quarantine`), as the examples show them.

use super::{K, STRS, Ty};

const NUM: K = K::Num;

// ---------------------------------------------------------------- application, service principal

/// `informationalUrl`.
const INFO: Ty = Ty {
    name: "informationalUrl",
    props: &[
        ("logoUrl", K::Str),
        ("marketingUrl", K::Str),
        ("privacyStatementUrl", K::Str),
        ("supportUrl", K::Str),
        ("termsOfServiceUrl", K::Str),
    ],
};
const APP_ROLE: Ty = Ty {
    name: "appRole",
    props: &[
        ("allowedMemberTypes", STRS),
        ("description", K::Str),
        ("displayName", K::Str),
        ("id", K::Str),
        ("isEnabled", K::Bool),
        ("origin", K::Str),
        ("value", K::Str),
    ],
};
const KEY_VALUE: Ty = Ty {
    name: "keyValue",
    props: &[("key", K::Str), ("value", K::Str)],
};
const ADD_IN: Ty = Ty {
    name: "addIn",
    props: &[
        ("id", K::Str),
        ("properties", K::Coll(&K::Obj(&KEY_VALUE))),
        ("type", K::Str),
    ],
};
const KEY_CREDENTIAL: Ty = Ty {
    name: "keyCredential",
    props: &[
        ("customKeyIdentifier", K::Str),
        ("displayName", K::Str),
        ("endDateTime", K::Str),
        ("key", K::Str),
        ("keyId", K::Str),
        ("startDateTime", K::Str),
        ("type", K::Str),
        ("usage", K::Str),
    ],
};
const PASSWORD_CREDENTIAL: Ty = Ty {
    name: "passwordCredential",
    props: &[
        ("customKeyIdentifier", K::Str),
        ("displayName", K::Str),
        ("endDateTime", K::Str),
        ("hint", K::Str),
        ("keyId", K::Str),
        ("secretText", K::Str),
        ("startDateTime", K::Str),
    ],
};
const PERMISSION_SCOPE: Ty = Ty {
    name: "permissionScope",
    props: &[
        ("adminConsentDescription", K::Str),
        ("adminConsentDisplayName", K::Str),
        ("id", K::Str),
        ("isEnabled", K::Bool),
        ("origin", K::Str),
        ("type", K::Str),
        ("userConsentDescription", K::Str),
        ("userConsentDisplayName", K::Str),
        ("value", K::Str),
    ],
};
/// The `endpoint` navigation of a service principal, as the instantiate example shows it.
const ENDPOINT: Ty = Ty {
    name: "endpoint",
    props: &[
        ("id", K::Str),
        ("capability", K::Str),
        ("providerId", K::Str),
        ("providerName", K::Str),
        ("providerResourceId", K::Str),
        ("uri", K::Str),
    ],
};
const VERIFIED_PUBLISHER: Ty = Ty {
    name: "verifiedPublisher",
    props: &[
        ("addedDateTime", K::Str),
        ("displayName", K::Str),
        ("verifiedPublisherId", K::Str),
    ],
};
const SAML_SSO: Ty = Ty {
    name: "samlSingleSignOnSettings",
    props: &[("relayState", K::Str)],
};

pub(super) const SERVICE_PRINCIPAL: Ty = Ty {
    name: "servicePrincipal",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("accountEnabled", K::Bool),
        ("addIns", K::Coll(&K::Obj(&ADD_IN))),
        ("alternativeNames", STRS),
        ("appDescription", K::Str),
        ("appDisplayName", K::Str),
        ("appId", K::Str),
        ("applicationTemplateId", K::Str),
        ("appOwnerOrganizationId", K::Str),
        ("appRoleAssignmentRequired", K::Bool),
        ("appRoles", K::Coll(&K::Obj(&APP_ROLE))),
        ("description", K::Str),
        ("disabledByMicrosoftStatus", K::Str),
        ("displayName", K::Str),
        ("homepage", K::Str),
        ("info", K::Obj(&INFO)),
        ("keyCredentials", K::Coll(&K::Obj(&KEY_CREDENTIAL))),
        ("loginUrl", K::Str),
        ("logoutUrl", K::Str),
        ("notes", K::Str),
        ("notificationEmailAddresses", STRS),
        (
            "oauth2PermissionScopes",
            K::Coll(&K::Obj(&PERMISSION_SCOPE)),
        ),
        (
            "passwordCredentials",
            K::Coll(&K::Obj(&PASSWORD_CREDENTIAL)),
        ),
        ("preferredSingleSignOnMode", K::Str),
        ("preferredTokenSigningKeyThumbprint", K::Str),
        ("publisherName", K::Str),
        ("replyUrls", STRS),
        ("samlSingleSignOnSettings", K::Obj(&SAML_SSO)),
        ("servicePrincipalNames", STRS),
        ("servicePrincipalType", K::Str),
        ("signInAudience", K::Str),
        ("tags", STRS),
        ("tokenEncryptionKeyId", K::Str),
        ("verifiedPublisher", K::Obj(&VERIFIED_PUBLISHER)),
        ("endpoints", K::Coll(&K::Obj(&ENDPOINT))),
    ],
};

const PRE_AUTHORIZED: Ty = Ty {
    name: "preAuthorizedApplication",
    props: &[("appId", K::Str), ("delegatedPermissionIds", STRS)],
};
const API: Ty = Ty {
    name: "apiApplication",
    props: &[
        ("acceptMappedClaims", K::Bool),
        ("knownClientApplications", STRS),
        (
            "oauth2PermissionScopes",
            K::Coll(&K::Obj(&PERMISSION_SCOPE)),
        ),
        (
            "preAuthorizedApplications",
            K::Coll(&K::Obj(&PRE_AUTHORIZED)),
        ),
        ("requestedAccessTokenVersion", NUM),
    ],
};
const PUBLIC_CLIENT: Ty = Ty {
    name: "publicClientApplication",
    props: &[("redirectUris", STRS)],
};
const SPA: Ty = Ty {
    name: "spaApplication",
    props: &[("redirectUris", STRS)],
};
const PARENTAL: Ty = Ty {
    name: "parentalControlSettings",
    props: &[
        ("countriesBlockedForMinors", STRS),
        ("legalAgeGroupRule", K::Str),
    ],
};
const IMPLICIT_GRANT: Ty = Ty {
    name: "implicitGrantSettings",
    props: &[
        ("enableAccessTokenIssuance", K::Bool),
        ("enableIdTokenIssuance", K::Bool),
    ],
};
const REDIRECT_URI_SETTINGS: Ty = Ty {
    name: "redirectUriSettings",
    props: &[("index", NUM), ("uri", K::Str)],
};
const WEB: Ty = Ty {
    name: "webApplication",
    props: &[
        ("homePageUrl", K::Str),
        ("implicitGrantSettings", K::Obj(&IMPLICIT_GRANT)),
        ("logoutUrl", K::Str),
        ("redirectUris", STRS),
        (
            "redirectUriSettings",
            K::Coll(&K::Obj(&REDIRECT_URI_SETTINGS)),
        ),
    ],
};
const RESOURCE_ACCESS: Ty = Ty {
    name: "resourceAccess",
    props: &[("id", K::Str), ("type", K::Str)],
};
const REQUIRED_RESOURCE_ACCESS: Ty = Ty {
    name: "requiredResourceAccess",
    props: &[
        ("resourceAccess", K::Coll(&K::Obj(&RESOURCE_ACCESS))),
        ("resourceAppId", K::Str),
    ],
};
const OPTIONAL_CLAIM: Ty = Ty {
    name: "optionalClaim",
    props: &[
        ("additionalProperties", STRS),
        ("essential", K::Bool),
        ("name", K::Str),
        ("source", K::Str),
    ],
};
const OPTIONAL_CLAIMS: Ty = Ty {
    name: "optionalClaims",
    props: &[
        ("accessToken", K::Coll(&K::Obj(&OPTIONAL_CLAIM))),
        ("idToken", K::Coll(&K::Obj(&OPTIONAL_CLAIM))),
        ("saml2Token", K::Coll(&K::Obj(&OPTIONAL_CLAIM))),
    ],
};

pub(super) const APPLICATION: Ty = Ty {
    name: "application",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("addIns", K::Coll(&K::Obj(&ADD_IN))),
        ("api", K::Obj(&API)),
        ("appId", K::Str),
        ("applicationTemplateId", K::Str),
        ("appRoles", K::Coll(&K::Obj(&APP_ROLE))),
        ("createdDateTime", K::Str),
        ("defaultRedirectUri", K::Str),
        ("description", K::Str),
        ("disabledByMicrosoftStatus", K::Str),
        ("displayName", K::Str),
        ("groupMembershipClaims", K::Str),
        ("identifierUris", STRS),
        ("info", K::Obj(&INFO)),
        ("isDeviceOnlyAuthSupported", K::Bool),
        ("isFallbackPublicClient", K::Bool),
        ("keyCredentials", K::Coll(&K::Obj(&KEY_CREDENTIAL))),
        ("notes", K::Str),
        ("optionalClaims", K::Obj(&OPTIONAL_CLAIMS)),
        ("parentalControlSettings", K::Obj(&PARENTAL)),
        (
            "passwordCredentials",
            K::Coll(&K::Obj(&PASSWORD_CREDENTIAL)),
        ),
        ("publicClient", K::Obj(&PUBLIC_CLIENT)),
        ("publisherDomain", K::Str),
        (
            "requiredResourceAccess",
            K::Coll(&K::Obj(&REQUIRED_RESOURCE_ACCESS)),
        ),
        ("serviceManagementReference", K::Str),
        ("signInAudience", K::Str),
        ("spa", K::Obj(&SPA)),
        ("tags", STRS),
        ("tokenEncryptionKeyId", K::Str),
        ("uniqueName", K::Str),
        ("verifiedPublisher", K::Obj(&VERIFIED_PUBLISHER)),
        ("web", K::Obj(&WEB)),
    ],
};

/// The instantiate action's answer, `applicationServicePrincipal`.
pub(super) const APPLICATION_SERVICE_PRINCIPAL: Ty = Ty {
    name: "applicationServicePrincipal",
    props: &[
        ("application", K::Obj(&APPLICATION)),
        ("servicePrincipal", K::Obj(&SERVICE_PRINCIPAL)),
    ],
};

pub(super) const APP_ROLE_ASSIGNMENT: Ty = Ty {
    name: "appRoleAssignment",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("appRoleId", K::Str),
        ("createdDateTime", K::Str),
        ("principalDisplayName", K::Str),
        ("principalId", K::Str),
        ("principalType", K::Str),
        ("resourceDisplayName", K::Str),
        ("resourceId", K::Str),
    ],
};

// ---------------------------------------------------------------- synchronization jobs

const SCHEDULE_STATE: &[&str] = &["Active", "Disabled", "Paused", "unknownFutureValue"];
const STATUS_CODE: &[&str] = &["NotConfigured", "NotRun", "Active", "Paused", "Quarantine"];
const EXECUTION_RESULT: &[&str] = &["Succeeded", "Failed", "EntryLevelErrors"];
const QUARANTINE_REASON: &[&str] = &[
    "EncounteredBaseEscrowThreshold",
    "EncounteredTotalEscrowThreshold",
    "EncounteredEscrowProportionThreshold",
    "EncounteredQuarantineException",
    "Unknown",
    "QuarantinedOnDemand",
    "TooManyDeletes",
    "IngestionInterrupted",
];

const SCHEDULE: Ty = Ty {
    name: "synchronizationSchedule",
    props: &[
        ("expiration", K::Str),
        ("interval", K::Str),
        ("state", K::Enum(SCHEDULE_STATE)),
    ],
};
const SYNC_ERROR: Ty = Ty {
    name: "synchronizationError",
    props: &[
        ("code", K::Str),
        ("message", K::Str),
        ("tenantActionable", K::Bool),
    ],
};
const TASK_EXECUTION: Ty = Ty {
    name: "synchronizationTaskExecution",
    props: &[
        ("activityIdentifier", K::Str),
        ("countEntitled", NUM),
        ("countEntitledForProvisioning", NUM),
        ("countEscrowed", NUM),
        ("countEscrowedRaw", NUM),
        ("countExported", NUM),
        ("countExports", NUM),
        ("countImported", NUM),
        ("countImportedDeltas", NUM),
        ("countImportedReferenceDeltas", NUM),
        ("error", K::Obj(&SYNC_ERROR)),
        ("state", K::Enum(EXECUTION_RESULT)),
        ("timeBegan", K::Str),
        ("timeEnded", K::Str),
    ],
};
/// The example's `reason` is `""`: a string, as the enum is; its value is noted, not its shape.
const QUARANTINE: Ty = Ty {
    name: "synchronizationQuarantine",
    props: &[
        ("currentBegan", K::Str),
        ("error", K::Obj(&SYNC_ERROR)),
        ("nextAttempt", K::Str),
        ("reason", K::Enum(QUARANTINE_REASON)),
        ("seriesBegan", K::Str),
        ("seriesCount", NUM),
    ],
};
const PROGRESS: Ty = Ty {
    name: "synchronizationProgress",
    props: &[
        ("completedUnits", NUM),
        ("progressObservationDateTime", K::Str),
        ("totalUnits", NUM),
        ("units", K::Str),
    ],
};
const STRING_KEY_LONG: Ty = Ty {
    name: "stringKeyLongValuePair",
    props: &[("key", K::Str), ("value", NUM)],
};
const STATUS: Ty = Ty {
    name: "synchronizationStatus",
    props: &[
        ("code", K::Enum(STATUS_CODE)),
        ("countSuccessiveCompleteFailures", NUM),
        ("escrowsPruned", K::Bool),
        ("lastExecution", K::Obj(&TASK_EXECUTION)),
        ("lastSuccessfulExecution", K::Obj(&TASK_EXECUTION)),
        (
            "lastSuccessfulExecutionWithExports",
            K::Obj(&TASK_EXECUTION),
        ),
        ("progress", K::Coll(&K::Obj(&PROGRESS))),
        ("quarantine", K::Obj(&QUARANTINE)),
        ("steadyStateFirstAchievedTime", K::Str),
        ("steadyStateLastAchievedTime", K::Str),
        (
            "synchronizedEntryCountByType",
            K::Coll(&K::Obj(&STRING_KEY_LONG)),
        ),
        ("troubleshootingUrl", K::Str),
    ],
};
/// `keyValuePair`: `{name, value}` (the job settings).
const KEY_VALUE_PAIR: Ty = Ty {
    name: "keyValuePair",
    props: &[("name", K::Str), ("value", K::Str)],
};
pub(super) const SYNC_JOB: Ty = Ty {
    name: "synchronizationJob",
    props: &[
        ("id", K::Str),
        ("schedule", K::Obj(&SCHEDULE)),
        ("status", K::Obj(&STATUS)),
        (
            "synchronizationJobSettings",
            K::Coll(&K::Obj(&KEY_VALUE_PAIR)),
        ),
        ("templateId", K::Str),
    ],
};

// ---------------------------------------------------------------- schema, provision on demand

pub(super) const STRING_KEY_STRING: Ty = Ty {
    name: "stringKeyStringValuePair",
    props: &[("key", K::Str), ("value", K::Str)],
};
const REFERENCED_OBJECT: Ty = Ty {
    name: "referencedObject",
    props: &[
        ("referencedObjectName", K::Str),
        ("referencedProperty", K::Str),
    ],
};
const ATTRIBUTE_TYPE: &[&str] = &[
    "String",
    "Integer",
    "Reference",
    "Binary",
    "Boolean",
    "DateTime",
];
const MUTABILITY: &[&str] = &["ReadWrite", "ReadOnly", "Immutable", "WriteOnly"];
const ATTRIBUTE: Ty = Ty {
    name: "attributeDefinition",
    props: &[
        ("anchor", K::Bool),
        ("apiExpressions", K::Coll(&K::Obj(&STRING_KEY_STRING))),
        ("caseExact", K::Bool),
        ("defaultValue", K::Str),
        ("flowNullValues", K::Bool),
        ("metadata", K::Coll(&K::Obj(&KEY_VALUE_META))),
        ("multivalued", K::Bool),
        ("mutability", K::Enum(MUTABILITY)),
        ("name", K::Str),
        ("referencedObjects", K::Coll(&K::Obj(&REFERENCED_OBJECT))),
        ("required", K::Bool),
        ("type", K::Enum(ATTRIBUTE_TYPE)),
    ],
};
/// `attributeDefinitionMetadataEntry`, `objectDefinitionMetadataEntry`,
/// `objectMappingMetadataEntry`, `metadataEntry`: `{key, value}`, both strings.
const KEY_VALUE_META: Ty = Ty {
    name: "metadataEntry",
    props: &[("key", K::Str), ("value", K::Str)],
};
const OBJECT: Ty = Ty {
    name: "objectDefinition",
    props: &[
        ("attributes", K::Coll(&K::Obj(&ATTRIBUTE))),
        ("metadata", K::Coll(&K::Obj(&KEY_VALUE_META))),
        ("name", K::Str),
        ("supportedApis", STRS),
    ],
};
const DIRECTORY: Ty = Ty {
    name: "directoryDefinition",
    props: &[
        ("id", K::Str),
        ("discoverabilities", K::Str),
        ("discoveryDateTime", K::Str),
        ("name", K::Str),
        ("objects", K::Coll(&K::Obj(&OBJECT))),
        ("readOnly", K::Bool),
        ("version", K::Str),
    ],
};
const FLOW_TYPE: &[&str] = &[
    "Always",
    "ObjectAddOnly",
    "MultiValueAddOnly",
    "ValueAddOnly",
    "AttributeAddOnly",
];
const FLOW_BEHAVIOR: &[&str] = &["FlowWhenChanged", "FlowAlways"];
const SOURCE_TYPE: &[&str] = &["Attribute", "Constant", "Function"];
// `static`: the two refer to each other (a parameter's value is a source).
static SOURCE_PARAMETER: Ty = Ty {
    name: "stringKeyAttributeMappingSourceValuePair",
    props: &[("key", K::Str), ("value", K::Obj(&SOURCE))],
};
static SOURCE: Ty = Ty {
    name: "attributeMappingSource",
    props: &[
        ("expression", K::Str),
        ("name", K::Str),
        ("parameters", K::Coll(&K::Obj(&SOURCE_PARAMETER))),
        ("type", K::Enum(SOURCE_TYPE)),
    ],
};
const ATTRIBUTE_MAPPING: Ty = Ty {
    name: "attributeMapping",
    props: &[
        ("defaultValue", K::Str),
        ("exportMissingReferences", K::Bool),
        ("flowBehavior", K::Enum(FLOW_BEHAVIOR)),
        ("flowType", K::Enum(FLOW_TYPE)),
        ("matchingPriority", NUM),
        ("source", K::Obj(&SOURCE)),
        ("targetAttributeName", K::Str),
    ],
};
const FILTER_OPERAND: Ty = Ty {
    name: "filterOperand",
    props: &[("values", STRS)],
};
const FILTER_CLAUSE: Ty = Ty {
    name: "filterClause",
    props: &[
        ("operatorName", K::Str),
        ("sourceOperandName", K::Str),
        ("targetOperand", K::Obj(&FILTER_OPERAND)),
    ],
};
const FILTER_GROUP: Ty = Ty {
    name: "filterGroup",
    props: &[
        ("clauses", K::Coll(&K::Obj(&FILTER_CLAUSE))),
        ("name", K::Str),
    ],
};
const FILTER: Ty = Ty {
    name: "filter",
    props: &[
        ("categoryFilterGroups", K::Coll(&K::Obj(&FILTER_GROUP))),
        ("groups", K::Coll(&K::Obj(&FILTER_GROUP))),
        ("inputFilterGroups", K::Coll(&K::Obj(&FILTER_GROUP))),
    ],
};
const OBJECT_MAPPING: Ty = Ty {
    name: "objectMapping",
    props: &[
        ("attributeMappings", K::Coll(&K::Obj(&ATTRIBUTE_MAPPING))),
        ("enabled", K::Bool),
        ("flowTypes", K::Flags(&["None", "Add", "Update", "Delete"])),
        ("metadata", K::Coll(&K::Obj(&KEY_VALUE_META))),
        ("name", K::Str),
        ("scope", K::Obj(&FILTER)),
        ("sourceObjectName", K::Str),
        ("targetObjectName", K::Str),
    ],
};
const CONTAINER_FILTER: Ty = Ty {
    name: "containerFilter",
    props: &[("includedContainers", STRS)],
};
const GROUP_FILTER: Ty = Ty {
    name: "groupFilter",
    props: &[("includedGroups", STRS)],
};
const RULE: Ty = Ty {
    name: "synchronizationRule",
    props: &[
        ("containerFilter", K::Obj(&CONTAINER_FILTER)),
        ("editable", K::Bool),
        ("groupFilter", K::Obj(&GROUP_FILTER)),
        ("id", K::Str),
        ("metadata", K::Coll(&K::Obj(&STRING_KEY_STRING))),
        ("name", K::Str),
        ("objectMappings", K::Coll(&K::Obj(&OBJECT_MAPPING))),
        ("priority", NUM),
        ("sourceDirectoryName", K::Str),
        ("targetDirectoryName", K::Str),
    ],
};
pub(super) const SYNC_SCHEMA: Ty = Ty {
    name: "synchronizationSchema",
    props: &[
        ("id", K::Str),
        ("directories", K::Coll(&K::Obj(&DIRECTORY))),
        ("synchronizationRules", K::Coll(&K::Obj(&RULE))),
        ("version", K::Str),
    ],
};
