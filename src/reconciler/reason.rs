//! Every reason a condition or an Event can give. The string form (the variant's name) is what
//! users see in `kubectl get`, `describe` and Events, and what dashboards and health checks
//! match on, so a variant is never renamed lightly.

use std::fmt;

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum Reason {
            $($(#[$doc])* $name,)+
        }

        impl Reason {
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)+
                }
            }
        }
    };
}

reasons! {
    // Ready.
    /// A token was obtained for the connection.
    TokenObtained,
    /// Graph matches the spec.
    InSync,
    /// The Graph object was created by this resource.
    Created,
    /// An existing Graph object was taken over.
    Adopted,
    /// The object an interrupted create made was adopted instead of creating another.
    Recovered,
    /// Graph was changed to match the spec.
    Updated,
    /// managementPolicy Observe: Graph differs from the spec; reported, not corrected.
    DriftDetected,
    /// The member tenant is an active member.
    Joined,
    /// The sync job is paused, as the spec says.
    SyncPaused,

    // Progressing.
    /// A create call is under way.
    Creating,
    /// Member tenants were added, changed or removed; Graph applies that asynchronously.
    MembersUpdated,
    /// Graph is still adding, re-roling or removing member tenants (notStarted or running).
    MembersInTransition,
    /// A join request is being processed by Graph.
    Joining,
    /// Graph accepts a join only 2 h after the multi-tenant organization was created.
    WaitingToJoin,
    /// The owner's MultiTenantOrganization resource doesn't know its creation time yet.
    WaitingForOwner,
    /// A join declared in this namespace will create these partner settings; adopted after it.
    WaitingForJoin,
    /// Graph refused the join request for now; asked again later.
    JoinRefused,
    /// deletionPolicy Leave: Graph is removing tenants.
    Leaving,
    /// Being deleted, but other resources still need it to finish their own cleanup.
    InUse,
    /// The resource changed while it was being reconciled; it is looked at again.
    StaleRead,
    /// An interrupted create may still show up in Graph's lists; waiting before creating again.
    WaitingForGraph,
    /// This replica lost leadership mid-round; nothing more was written.
    NotLeader,
    /// The sync job was started and its first cycle hasn't finished.
    FirstCycle,

    // Stalled: a person has to act.
    /// Several Graph objects match and the operator won't guess.
    Ambiguous,
    /// The Graph object to adopt or keep is not there.
    NotFoundInGraph,
    /// Another resource manages the same Graph object.
    Conflict,
    /// Graph knows no tenant with the id the spec names.
    TenantNotFound,
    /// Graph reports the join failed.
    JoinFailed,
    /// The sync job is in quarantine (Microsoft's reason in the message).
    Quarantined,
    /// The sync configuration's connection test failed: a partner policy is missing on one side.
    ConnectionTestFailed,
    /// Graph reports a member's add, join or removal failed; the member tenant must reset it.
    MemberTransitionFailed,
    /// The spec asks for something Graph can't do.
    InvalidSpec,
    /// The kind doesn't exist in the connection's cloud.
    UnsupportedCloud,
    /// The application lacks a permission in the tenant.
    MissingPermission,
    /// The TenantConnection named by connectionRef doesn't exist.
    ConnectionNotFound,
    /// The TenantConnection named by connectionRef is not Ready.
    ConnectionNotReady,
    /// The Secret a connection references doesn't exist.
    SecretNotFound,
    /// The Secret lacks the referenced key.
    SecretKeyMissing,
    /// The credential can't be used (bad PEM, unreadable token file).
    CredentialInvalid,
    /// The token endpoint refused the credential.
    AuthenticationFailed,
    /// spec.endpoints names a host the administrator doesn't allow.
    EndpointNotAllowed,
    /// The operator's own identity isn't lent to this namespace.
    IdentityNotAllowed,
    /// The named ServiceAccount lacks the workload-identity opt-in for this application.
    ServiceAccountNotOptedIn,
    /// The token is for another tenant than the connection names.
    TenantMismatch,
    /// Graph or the token endpoint answered with a redirect, which is never followed.
    RedirectRefused,
    /// A page of results pointed its next link at another host, which is never followed.
    NextLinkRefused,
    /// Graph answered 403.
    Forbidden,
    /// Graph refused the request (4xx).
    GraphRejected,

    // Transient: retried by itself.
    /// Graph answered 429.
    Throttled,
    /// Graph answered 5xx.
    GraphUnavailable,
    /// A Graph request timed out.
    GraphTimeout,
    /// Graph could not be reached.
    GraphUnreachable,
    /// Graph answered with a body that isn't what it documents.
    GraphMalformedResponse,
    /// The Kubernetes API failed.
    KubernetesError,

    /// A reconcile panicked; it was caught, counted and is retried with backoff.
    Panicked,

    // Events only.
    /// An annotation's value was ignored (the condition's message says which and why).
    InvalidAnnotation,
    /// A join request was sent.
    JoinRequested,
    /// A failed join request was reset as asked.
    JoinReset,
    /// The resource's deletion finished its work in Graph.
    Deleted,
    /// A user was provisioned on demand (the note says the result).
    ProvisionedOnDemand,

    // The False side of Reconciling and Stalled.
    /// Nothing is in progress.
    Idle,
    /// Nothing is stalled.
    NotStalled,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
