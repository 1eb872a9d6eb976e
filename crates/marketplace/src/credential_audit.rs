//! The audit trail of project credential reads (`credential_reads`): every time plain-text
//! credentials leave the service, who read them, when, and through which job. The entry is
//! written before the credentials are opened, so a read that left no trace never happened. The
//! project's client and its organization's owners and admins see the trail
//! ([`crate::visibility::credential_reads_visible`]).

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, ActorRole};
use crate::error::MarketplaceError;
use crate::service::MarketplaceService;

/// Why the reader was allowed to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialReaderKind {
    /// The project's client or an owner or admin of its organization.
    Owner,
    /// A platform admin.
    Admin,
    /// A tester whose seat on one of the project's jobs is in progress.
    Tester,
}

/// One read of a project's credentials (a document of `credential_reads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRead {
    /// The entry id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The project whose credentials were read.
    pub project_id: ObjectId,
    /// The job whose seat allowed a tester's read; `None` for owners and admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<ObjectId>,
    /// Who read them.
    pub reader_id: ObjectId,
    /// Why they were allowed to.
    pub reader_kind: CredentialReaderKind,
    /// When (service clock).
    pub read_at: DateTime,
}

/// How many of a project's newest reads the trail's loader holds per project.
pub const CREDENTIAL_TRAIL_LIMIT: usize = 1_000;

impl MarketplaceService {
    /// Writes the trail entry for a read that is about to happen.
    pub(crate) async fn record_credential_read(
        &self,
        actor: &Actor,
        project_id: ObjectId,
        job_id: Option<ObjectId>,
    ) -> Result<(), MarketplaceError> {
        let reader_kind = match (actor.role, job_id) {
            (_, Some(_)) => CredentialReaderKind::Tester,
            (ActorRole::Admin, None) => CredentialReaderKind::Admin,
            (_, None) => CredentialReaderKind::Owner,
        };
        self.credential_reads
            .insert_one(CredentialRead {
                id: ObjectId::new(),
                project_id,
                job_id,
                reader_id: actor.user_id,
                reader_kind,
                read_at: self.now(),
            })
            .await?;
        Ok(())
    }

    /// The newest `per_parent_limit` credential reads of each project, newest first, one `$in`
    /// query on the indexed `project_id`. Callers decide who may see them.
    pub async fn credential_reads_by_project_ids(
        &self,
        project_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<CredentialRead>>, MarketplaceError> {
        let reads: Vec<CredentialRead> = self
            .credential_reads
            .find(doc! { "project_id": { "$in": project_ids } })
            .sort(doc! { "read_at": -1, "_id": -1 })
            .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<CredentialRead>> = HashMap::new();
        for read in reads {
            let list = grouped.entry(read.project_id).or_default();
            if list.len() < per_parent_limit {
                list.push(read);
            }
        }
        Ok(grouped)
    }
}
