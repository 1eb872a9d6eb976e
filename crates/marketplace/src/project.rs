//! Projects (seed section 2): created, updated and archived by the owning client or members of its
//! organization by role, limited by the organization's `max_projects`; their credentials are
//! encrypted at rest and released only to the owner, the owner's organization admins and testers
//! testing on one of the project's jobs, each release recorded in the credential audit trail.

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, ActorRole};
use crate::bounds;
use crate::error::MarketplaceError;
use crate::job::OrganizationLimits;
use crate::service::MarketplaceService;
use crate::usage::{UsageCounter, UsageOwner};

/// Where a project is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// In use.
    Active,
    /// Retired; takes no changes.
    Archived,
    /// Being set up.
    Draft,
}

/// What kind of product a project is (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectType {
    /// A website or web app (`web`).
    Web,
    /// A mobile app (`mobile`).
    Mobile,
    /// An API (`api`).
    Api,
    /// A desktop application (`desktop`).
    Desktop,
    /// A stored value this version does not know; never accepted as input. Kept so that one
    /// odd document reads as a value rather than failing a whole page.
    #[serde(other)]
    Other,
}

/// Where the product under test runs (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectEnvironment {
    /// Live (`production`).
    Production,
    /// A staging copy (`staging`).
    Staging,
    /// A development build (`development`).
    Development,
    /// A stored value this version does not know; never accepted as input.
    #[serde(other)]
    Other,
}

/// Credentials testers need to log into the tested product, in plain text (only ever in memory).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectCredentials {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Anything else testers need (promo codes, 2FA numbers).
    pub additional_info: String,
}

/// Credentials as stored: every field sealed with AES-256-GCM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredentials {
    /// Sealed login name.
    pub username: String,
    /// Sealed password.
    pub password: String,
    /// Sealed additional info.
    pub additional_info: String,
}

/// A project as stored in `projects` (credentials stay sealed; read them with
/// [`MarketplaceService::project_credentials`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The owning client.
    pub client_id: ObjectId,
    /// The owning organization, when created on its behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<ObjectId>,
    /// What kind of product.
    pub project_type: ProjectType,
    /// Main URL or app link.
    pub url: String,
    /// Where it runs.
    pub environment: ProjectEnvironment,
    /// Sealed credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SealedCredentials>,
    /// Target devices.
    pub target_devices: Vec<String>,
    /// Target browsers.
    pub target_browsers: Vec<String>,
    /// Target operating systems.
    pub target_os: Vec<String>,
    /// Lifecycle status.
    pub status: ProjectStatus,
    /// Created.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
    /// Archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime>,
}

/// What a client supplies to create a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// What kind of product (`Other` is refused).
    pub project_type: ProjectType,
    /// Main URL or app link.
    pub url: String,
    /// Where it runs (`Other` is refused).
    pub environment: ProjectEnvironment,
    /// Credentials to seal, if any.
    pub credentials: Option<ProjectCredentials>,
    /// Target devices.
    pub target_devices: Vec<String>,
    /// Target browsers.
    pub target_browsers: Vec<String>,
    /// Target operating systems.
    pub target_os: Vec<String>,
}

/// Fields to change on a project; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// New credentials (re-sealed).
    pub credentials: Option<ProjectCredentials>,
    /// New target devices.
    pub target_devices: Option<Vec<String>>,
    /// New target browsers.
    pub target_browsers: Option<Vec<String>>,
    /// New target operating systems.
    pub target_os: Option<Vec<String>>,
}

impl MarketplaceService {
    fn seal_credentials(
        &self,
        credentials: &ProjectCredentials,
    ) -> Result<SealedCredentials, MarketplaceError> {
        Ok(SealedCredentials {
            username: self.credential_cipher.seal(&credentials.username)?,
            password: self.credential_cipher.seal(&credentials.password)?,
            additional_info: self.credential_cipher.seal(&credentials.additional_info)?,
        })
    }

    /// Creates an active project owned by the calling client (and their organization), unless the
    /// owner already has `limits.max_projects` active or draft projects. The limit holds under
    /// concurrency: the insert and the owner's usage counter move in one transaction.
    pub async fn create_project(
        &self,
        actor: &Actor,
        input: NewProject,
        limits: OrganizationLimits,
    ) -> Result<Project, MarketplaceError> {
        if actor.role == ActorRole::Tester {
            return Err(MarketplaceError::Forbidden {
                action: "create projects",
            });
        }
        bounds::text("name", &input.name, true, bounds::MAX_NAME_CHARS)?;
        bounds::text(
            "description",
            &input.description,
            false,
            bounds::MAX_DESCRIPTION_CHARS,
        )?;
        bounds::known("project_type", input.project_type == ProjectType::Other)?;
        bounds::known(
            "environment",
            input.environment == ProjectEnvironment::Other,
        )?;
        bounds::web_url("url", &input.url, false)?;
        bounds::labels("target_devices", &input.target_devices, bounds::MAX_TARGETS)?;
        bounds::labels(
            "target_browsers",
            &input.target_browsers,
            bounds::MAX_TARGETS,
        )?;
        bounds::labels("target_os", &input.target_os, bounds::MAX_TARGETS)?;
        let organization_id = actor.organization.map(|(id, _)| id);
        let owner = UsageOwner::of(actor.user_id, organization_id);
        let used = self.usage(owner, UsageCounter::Projects).await?;
        if used.is_some_and(|used| used >= i64::from(limits.max_projects)) {
            return Err(MarketplaceError::ProjectLimitReached {
                limit: limits.max_projects,
            });
        }
        let now = self.now();
        let project = Project {
            id: ObjectId::new(),
            name: input.name,
            description: input.description,
            client_id: actor.user_id,
            organization_id,
            project_type: input.project_type,
            url: input.url,
            environment: input.environment,
            credentials: input
                .credentials
                .as_ref()
                .map(|credentials| self.seal_credentials(credentials))
                .transpose()?,
            target_devices: input.target_devices,
            target_browsers: input.target_browsers,
            target_os: input.target_os,
            status: ProjectStatus::Active,
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        let project = &project;
        self.in_transaction(|mut session| async move {
            let outcome = self
                .insert_counted_project(&mut session, project, owner, limits.max_projects)
                .await;
            (session, outcome)
        })
        .await?;
        Ok(project.clone())
    }

    /// Takes a unit of the owner's project count (refusing at `limit`) and inserts `project`.
    async fn insert_counted_project(
        &self,
        session: &mut ClientSession,
        project: &Project,
        owner: UsageOwner,
        limit: u32,
    ) -> Result<(), MarketplaceError> {
        let counter = self.usage_counter(session, owner).await?;
        if !self
            .take_usage(session, &counter, UsageCounter::Projects, limit)
            .await?
        {
            return Err(MarketplaceError::ProjectLimitReached { limit });
        }
        self.projects
            .insert_one(project)
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// The project with `project_id`.
    pub async fn project(&self, project_id: ObjectId) -> Result<Project, MarketplaceError> {
        self.projects
            .find_one(doc! { "_id": project_id })
            .await?
            .ok_or(MarketplaceError::ProjectNotFound)
    }

    /// Whether `actor` administers the project: its client, an owner or admin of its
    /// organization, or a platform admin.
    fn administers(actor: &Actor, project: &Project) -> bool {
        actor.administers(project.client_id, project.organization_id)
    }

    /// Changes a non-archived project; the owner and any member of its organization may.
    pub async fn update_project(
        &self,
        actor: &Actor,
        project_id: ObjectId,
        update: ProjectUpdate,
    ) -> Result<Project, MarketplaceError> {
        if let Some(name) = &update.name {
            bounds::text("name", name, true, bounds::MAX_NAME_CHARS)?;
        }
        if let Some(description) = &update.description {
            bounds::text(
                "description",
                description,
                false,
                bounds::MAX_DESCRIPTION_CHARS,
            )?;
        }
        if let Some(url) = &update.url {
            bounds::web_url("url", url, false)?;
        }
        for (field, list) in [
            ("target_devices", &update.target_devices),
            ("target_browsers", &update.target_browsers),
            ("target_os", &update.target_os),
        ] {
            if let Some(list) = list {
                bounds::labels(field, list, bounds::MAX_TARGETS)?;
            }
        }
        let project = self.project(project_id).await?;
        if actor.role == ActorRole::Tester
            || !actor.manages(project.client_id, project.organization_id)
        {
            return Err(MarketplaceError::Forbidden {
                action: "change this project",
            });
        }
        let mut set = doc! { "updated_at": self.now() };
        if let Some(name) = update.name {
            set.insert("name", name);
        }
        if let Some(description) = update.description {
            set.insert("description", description);
        }
        if let Some(url) = update.url {
            set.insert("url", url);
        }
        if let Some(credentials) = update.credentials {
            set.insert(
                "credentials",
                bson::to_bson(&self.seal_credentials(&credentials)?)?,
            );
        }
        if let Some(devices) = update.target_devices {
            set.insert("target_devices", devices);
        }
        if let Some(browsers) = update.target_browsers {
            set.insert("target_browsers", browsers);
        }
        if let Some(os) = update.target_os {
            set.insert("target_os", os);
        }
        self.projects
            .find_one_and_update(
                doc! { "_id": project_id, "status": { "$ne": "archived" } },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await?
            .ok_or(MarketplaceError::ProjectArchived)
    }

    /// Archives a project, freeing its slot under `max_projects`; its client or an owner or admin
    /// of its organization may.
    pub async fn archive_project(
        &self,
        actor: &Actor,
        project_id: ObjectId,
    ) -> Result<Project, MarketplaceError> {
        let project = self.project(project_id).await?;
        if !Self::administers(actor, &project) {
            return Err(MarketplaceError::Forbidden {
                action: "archive this project",
            });
        }
        let owner = UsageOwner::of(project.client_id, project.organization_id);
        self.in_transaction(|mut session| async move {
            let outcome = self
                .archive_counted_project(&mut session, project_id, owner)
                .await;
            (session, outcome)
        })
        .await
    }

    /// Archives the project by compare-and-set on "not archived" and gives its unit of the
    /// owner's project count back.
    async fn archive_counted_project(
        &self,
        session: &mut ClientSession,
        project_id: ObjectId,
        owner: UsageOwner,
    ) -> Result<Project, MarketplaceError> {
        let counter = self.usage_counter(session, owner).await?;
        let now = self.now();
        let archived = self
            .projects
            .find_one_and_update(
                doc! { "_id": project_id, "status": { "$ne": "archived" } },
                doc! { "$set": { "status": "archived", "archived_at": now, "updated_at": now } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::ProjectArchived)?;
        self.release_usage(session, &counter, UsageCounter::Projects)
            .await?;
        Ok(archived)
    }

    /// The project's credentials in plain text, for its client, an owner or admin of its
    /// organization (current members only), a platform admin, or a tester whose seat on one of
    /// its running jobs is in progress: credentials are released once testing has started
    /// (`startAssignment`, or the tester's first draft), not on a mere claim, and no longer once
    /// the seat is handed in, completed or withdrawn. Every release is first written to the
    /// audit trail ([`MarketplaceService::credential_reads_by_project_ids`]); no entry, no
    /// credentials. Everyone else: Forbidden, and nothing is recorded.
    pub async fn project_credentials(
        &self,
        actor: &Actor,
        project_id: ObjectId,
    ) -> Result<Option<ProjectCredentials>, MarketplaceError> {
        let project = self.project(project_id).await?;
        let seat_job = if Self::administers(actor, &project) {
            None
        } else if actor.role == ActorRole::Tester {
            let job = self
                .jobs
                .find_one(doc! {
                    "project_id": project_id,
                    "status": { "$in": ["open", "in_progress", "review"] },
                    "assigned_testers": { "$elemMatch": {
                        "tester_id": actor.user_id,
                        "status": crate::AssignmentStatus::InProgress.as_str(),
                    }},
                })
                .await?;
            match job {
                Some(job) => Some(job.id),
                None => return Err(MarketplaceError::Forbidden {
                    action:
                        "read this project's credentials before starting testing on one of its jobs",
                }),
            }
        } else {
            return Err(MarketplaceError::Forbidden {
                action: "read this project's credentials",
            });
        };
        let Some(sealed) = project.credentials else {
            return Ok(None);
        };
        self.record_credential_read(actor, project_id, seat_job)
            .await?;
        Ok(Some(ProjectCredentials {
            username: self.credential_cipher.open(&sealed.username)?,
            password: self.credential_cipher.open(&sealed.password)?,
            additional_info: self.credential_cipher.open(&sealed.additional_info)?,
        }))
    }

    /// Re-seals every stored credential that is not sealed under the current key (after a key
    /// rotation), each project by compare-and-set on its old sealed value so a concurrent update
    /// wins. Returns how many projects were re-sealed; run it until it returns 0, then drop the
    /// previous key.
    pub async fn reseal_credentials(&self) -> Result<u64, MarketplaceError> {
        let mut stale: Vec<Project> = Vec::new();
        let mut cursor = self
            .projects
            .find(doc! { "credentials": { "$type": "object" } })
            .await?;
        while let Some(project) = cursor.try_next().await? {
            if let Some(sealed) = &project.credentials {
                let fields = [&sealed.username, &sealed.password, &sealed.additional_info];
                if !fields
                    .iter()
                    .all(|value| self.credential_cipher.is_current(value))
                {
                    stale.push(project);
                }
            }
        }
        let mut resealed = 0;
        for project in stale {
            let Some(sealed) = project.credentials else {
                continue;
            };
            let plain = ProjectCredentials {
                username: self.credential_cipher.open(&sealed.username)?,
                password: self.credential_cipher.open(&sealed.password)?,
                additional_info: self.credential_cipher.open(&sealed.additional_info)?,
            };
            let fresh = bson::to_bson(&self.seal_credentials(&plain)?)?;
            let result = self
                .projects
                .update_one(
                    doc! { "_id": project.id, "credentials": bson::to_bson(&sealed)? },
                    doc! { "$set": { "credentials": fresh } },
                )
                .await?;
            resealed += result.modified_count;
        }
        Ok(resealed)
    }

    /// The projects with these ids, one `$in` query on `_id`.
    pub async fn projects_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<std::collections::HashMap<ObjectId, Project>, MarketplaceError> {
        let projects: Vec<Project> = self
            .projects
            .find(doc! { "_id": { "$in": ids } })
            .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
            .await?
            .try_collect()
            .await?;
        Ok(projects.into_iter().map(|p| (p.id, p)).collect())
    }

    /// The newest `per_parent_limit` projects of each client, one `$in` query on `client_id`.
    pub async fn projects_by_client_ids(
        &self,
        client_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<std::collections::HashMap<ObjectId, Vec<Project>>, MarketplaceError> {
        let projects: Vec<Project> = self
            .projects
            .find(doc! { "client_id": { "$in": client_ids } })
            .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: std::collections::HashMap<ObjectId, Vec<Project>> = Default::default();
        for project in projects {
            let list = grouped.entry(project.client_id).or_default();
            if list.len() < per_parent_limit {
                list.push(project);
            }
        }
        Ok(grouped)
    }
}
