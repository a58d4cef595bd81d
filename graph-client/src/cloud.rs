//! National clouds: where Graph and the Entra authority live for each (graph-api §4).

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Cloud {
    #[default]
    Global,
    USGovernment,
    USGovernmentDoD,
    China,
}

impl Cloud {
    pub fn graph_root(self) -> &'static str {
        match self {
            Self::Global => "https://graph.microsoft.com",
            Self::USGovernment => "https://graph.microsoft.us",
            Self::USGovernmentDoD => "https://dod-graph.microsoft.us",
            Self::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    pub fn authority(self) -> &'static str {
        match self {
            Self::Global => "https://login.microsoftonline.com",
            Self::USGovernment | Self::USGovernmentDoD => "https://login.microsoftonline.us",
            Self::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The client-credentials scope: always the cloud's own Graph host, even when the Graph
    /// endpoint is overridden (a token is minted for the resource, not for the proxy).
    pub fn scope(self) -> String {
        format!("{}/.default", self.graph_root())
    }

    /// Multi-tenant organizations exist only in the Global cloud.
    pub fn supports_multi_tenant_organizations(self) -> bool {
        self == Self::Global
    }
}
