//! [`MarketplaceSettings`]: the typed settings the gateway hands the marketplace.

/// Settings of the marketplace domain. The gateway reads them from its configuration.
#[derive(Debug, Clone)]
pub struct MarketplaceSettings {
    /// AES-256-GCM key that encrypts project credentials at rest.
    pub credentials_encryption_key: [u8; 32],
    /// Keys credentials were sealed with before the last rotation: still opened, never used to
    /// seal; [`crate::MarketplaceService::reseal_credentials`] moves everything to the current key.
    pub previous_credentials_keys: Vec<[u8; 32]>,
}

impl MarketplaceSettings {
    /// Settings with the given credentials key.
    pub fn new(credentials_encryption_key: [u8; 32]) -> Self {
        Self {
            credentials_encryption_key,
            previous_credentials_keys: Vec::new(),
        }
    }
}
