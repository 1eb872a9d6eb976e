//! AI test templates (seed section 9): admins create them; clients create draft jobs from them by
//! filling their `{{name}}` variables, which increments the template's `usage_count`.

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::actor::{Actor, ActorRole};
use crate::bounds;
use crate::error::MarketplaceError;
use crate::job::{Job, NewJob};
use crate::service::MarketplaceService;

/// A placeholder a template asks the client to fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVariable {
    /// Written `{{name}}` in the template text.
    pub name: String,
    /// What it stands for.
    pub description: String,
    /// An example value.
    pub example: String,
}

/// A step with placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateStep {
    /// 1-based position.
    pub step_number: i32,
    /// The action with `{{name}}` placeholders.
    pub action_template: String,
    /// The expected result with `{{name}}` placeholders.
    pub expected_result_template: String,
}

/// The journey part of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyTemplate {
    /// Scenario with placeholders.
    pub scenario: String,
    /// Declared variables.
    pub variables: Vec<TemplateVariable>,
    /// Steps.
    pub steps: Vec<TemplateStep>,
}

/// The catalogue's categories (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplateCategory {
    /// Shops, carts, checkouts (`e-commerce`).
    #[serde(rename = "e-commerce")]
    ECommerce,
    /// Software as a service (`saas`).
    #[serde(rename = "saas")]
    Saas,
    /// Mobile apps (`mobile-app`).
    #[serde(rename = "mobile-app")]
    MobileApp,
    /// APIs (`api`).
    #[serde(rename = "api")]
    Api,
    /// Anything else (`general`).
    #[serde(rename = "general")]
    General,
    /// A stored value this version does not know; never accepted as input.
    #[serde(other, rename = "other")]
    Other,
}

impl TemplateCategory {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::ECommerce => "e-commerce",
            TemplateCategory::Saas => "saas",
            TemplateCategory::MobileApp => "mobile-app",
            TemplateCategory::Api => "api",
            TemplateCategory::General => "general",
            TemplateCategory::Other => "other",
        }
    }
}

/// What a template produces (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateType {
    /// A user journey with steps (`user_journey`).
    UserJourney,
    /// A checklist (`test_checklist`).
    TestChecklist,
    /// A guide for exploratory testing (`exploratory_guide`).
    ExploratoryGuide,
    /// A stored value this version does not know; never accepted as input.
    #[serde(other)]
    Other,
}

/// A template as stored in `ai_test_templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiTestTemplate {
    /// The template id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: TemplateCategory,
    /// Template type.
    pub template_type: TemplateType,
    /// The journey with placeholders.
    pub journey_template: JourneyTemplate,
    /// System prompt for the enhancement provider (empty: the default).
    pub openai_system_prompt: String,
    /// Instructions for the enhancement provider (empty: the default).
    pub enhancement_instructions: String,
    /// Jobs created from it.
    pub usage_count: i64,
    /// Offered to clients.
    pub is_active: bool,
    /// Only for pro and team plans.
    pub is_premium: bool,
    /// The admin who created it.
    pub created_by_id: ObjectId,
    /// Created.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
}

/// What an admin supplies to create a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTemplate {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category (`Other` is refused).
    pub category: TemplateCategory,
    /// Template type (`Other` is refused).
    pub template_type: TemplateType,
    /// The journey with placeholders.
    pub journey_template: JourneyTemplate,
    /// System prompt the enhancement provider gets for journeys of jobs made from this template;
    /// empty: the marketplace's default.
    pub openai_system_prompt: String,
    /// What the enhancement provider should do to those journeys; empty: the default.
    pub enhancement_instructions: String,
    /// Premium flag.
    pub is_premium: bool,
}

/// Replaces every `{{name}}` in `text` with its value; a placeholder without a value is an error
/// naming it.
pub fn fill_placeholders(
    text: &str,
    values: &HashMap<String, String>,
) -> Result<String, MarketplaceError> {
    let mut filled = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        filled.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            filled.push_str(&rest[start..]);
            return Ok(filled);
        };
        let name = after[..end].trim();
        let value = values
            .get(name)
            .ok_or_else(|| MarketplaceError::MissingTemplateVariable { name: name.into() })?;
        filled.push_str(value);
        rest = &after[end + 2..];
    }
    filled.push_str(rest);
    Ok(filled)
}

/// The bounds of a template's texts and lists (see `crate::bounds`).
fn validate_template(input: &NewTemplate) -> Result<(), MarketplaceError> {
    bounds::text("name", &input.name, true, bounds::MAX_NAME_CHARS)?;
    bounds::text(
        "description",
        &input.description,
        false,
        bounds::MAX_DESCRIPTION_CHARS,
    )?;
    bounds::known("category", input.category == TemplateCategory::Other)?;
    bounds::known("template_type", input.template_type == TemplateType::Other)?;
    let journey = &input.journey_template;
    bounds::text(
        "scenario",
        &journey.scenario,
        true,
        bounds::MAX_LONG_TEXT_CHARS,
    )?;
    if journey.steps.is_empty() || journey.steps.len() > bounds::MAX_TEMPLATE_STEPS {
        return Err(MarketplaceError::InvalidInput {
            field: "steps",
            reason: format!("1 to {} steps", bounds::MAX_TEMPLATE_STEPS),
        });
    }
    for step in &journey.steps {
        bounds::text(
            "steps",
            &step.action_template,
            true,
            bounds::MAX_LONG_TEXT_CHARS,
        )?;
        bounds::text(
            "steps",
            &step.expected_result_template,
            true,
            bounds::MAX_LONG_TEXT_CHARS,
        )?;
    }
    if journey.variables.len() > bounds::MAX_TEMPLATE_VARIABLES {
        return Err(MarketplaceError::InvalidInput {
            field: "variables",
            reason: format!("at most {} variables", bounds::MAX_TEMPLATE_VARIABLES),
        });
    }
    for variable in &journey.variables {
        bounds::text("variables", &variable.name, true, bounds::MAX_LABEL_CHARS)?;
        bounds::text(
            "variables",
            &variable.description,
            false,
            bounds::MAX_DESCRIPTION_CHARS,
        )?;
        bounds::text(
            "variables",
            &variable.example,
            false,
            bounds::MAX_DESCRIPTION_CHARS,
        )?;
    }
    bounds::text(
        "openai_system_prompt",
        &input.openai_system_prompt,
        false,
        bounds::MAX_LONG_TEXT_CHARS,
    )?;
    bounds::text(
        "enhancement_instructions",
        &input.enhancement_instructions,
        false,
        bounds::MAX_LONG_TEXT_CHARS,
    )
}

impl MarketplaceService {
    /// Creates an active template; admins only.
    pub async fn create_template(
        &self,
        actor: &Actor,
        input: NewTemplate,
    ) -> Result<AiTestTemplate, MarketplaceError> {
        if actor.role != ActorRole::Admin {
            return Err(MarketplaceError::Forbidden {
                action: "manage test templates",
            });
        }
        validate_template(&input)?;
        let now = self.now();
        let template = AiTestTemplate {
            id: ObjectId::new(),
            name: input.name,
            description: input.description,
            category: input.category,
            template_type: input.template_type,
            journey_template: input.journey_template,
            openai_system_prompt: input.openai_system_prompt,
            enhancement_instructions: input.enhancement_instructions,
            usage_count: 0,
            is_active: true,
            is_premium: input.is_premium,
            created_by_id: actor.user_id,
            created_at: now,
            updated_at: now,
        };
        self.templates
            .insert_one(bson::to_document(&template)?)
            .await?;
        Ok(template)
    }

    /// Replaces a template's content (name, texts, journey, premium flag) with `input`, under
    /// the same bounds as creating one; admins only. Its usage count, whether it is offered, and
    /// who created it stay; jobs already made from it keep their journeys.
    pub async fn replace_template(
        &self,
        actor: &Actor,
        template_id: ObjectId,
        input: NewTemplate,
    ) -> Result<AiTestTemplate, MarketplaceError> {
        if actor.role != ActorRole::Admin {
            return Err(MarketplaceError::Forbidden {
                action: "manage test templates",
            });
        }
        validate_template(&input)?;
        let updated = self
            .templates
            .find_one_and_update(
                doc! { "_id": template_id },
                doc! { "$set": {
                    "name": input.name,
                    "description": input.description,
                    "category": bson::to_bson(&input.category)?,
                    "template_type": bson::to_bson(&input.template_type)?,
                    "journey_template": bson::to_bson(&input.journey_template)?,
                    "openai_system_prompt": input.openai_system_prompt,
                    "enhancement_instructions": input.enhancement_instructions,
                    "is_premium": input.is_premium,
                    "updated_at": self.now(),
                } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?
            .ok_or(MarketplaceError::TemplateNotFound)?;
        Ok(bson::from_document(updated)?)
    }

    /// Offers (`true`) or withdraws (`false`) a template; admins only. Jobs already made from it
    /// keep their journeys.
    pub async fn set_template_active(
        &self,
        actor: &Actor,
        template_id: ObjectId,
        is_active: bool,
    ) -> Result<AiTestTemplate, MarketplaceError> {
        if actor.role != ActorRole::Admin {
            return Err(MarketplaceError::Forbidden {
                action: "manage test templates",
            });
        }
        let updated = self
            .templates
            .find_one_and_update(
                doc! { "_id": template_id },
                doc! { "$set": { "is_active": is_active, "updated_at": self.now() } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?
            .ok_or(MarketplaceError::TemplateNotFound)?;
        Ok(bson::from_document(updated)?)
    }

    /// The template catalogue, most used first: active templates (in `category` when given), and
    /// inactive ones too when `include_inactive` (admins manage those). Bounded by design: the
    /// catalogue is curated by admins.
    pub async fn list_templates(
        &self,
        category: Option<TemplateCategory>,
        include_inactive: bool,
    ) -> Result<Vec<AiTestTemplate>, MarketplaceError> {
        let mut filter = doc! {};
        if let Some(category) = category {
            filter.insert("category", category.as_str());
        }
        if !include_inactive {
            filter.insert("is_active", true);
        }
        let documents: Vec<bson::Document> = futures_util::TryStreamExt::try_collect(
            self.templates
                .find(filter)
                .sort(doc! { "usage_count": -1, "_id": 1 })
                .await?,
        )
        .await?;
        documents
            .into_iter()
            .map(|document| Ok(bson::from_document(document)?))
            .collect()
    }

    /// The templates with these ids, one `$in` query on `_id`.
    pub async fn templates_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, AiTestTemplate>, MarketplaceError> {
        let documents: Vec<bson::Document> = futures_util::TryStreamExt::try_collect(
            self.templates
                .find(doc! { "_id": { "$in": ids } })
                .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
                .await?,
        )
        .await?;
        documents
            .into_iter()
            .map(|document| {
                let template: AiTestTemplate = bson::from_document(document)?;
                Ok((template.id, template))
            })
            .collect()
    }

    /// The template with `template_id`.
    pub async fn template(
        &self,
        template_id: ObjectId,
    ) -> Result<AiTestTemplate, MarketplaceError> {
        let document = self
            .templates
            .find_one(doc! { "_id": template_id })
            .await?
            .ok_or(MarketplaceError::TemplateNotFound)?;
        Ok(bson::from_document(document)?)
    }

    /// Creates a draft job whose journey is the template's with `values` filled in; the steps of
    /// `input` are ignored. `premium_allowed` says whether the client's plan may use premium
    /// templates (pro or team). Increments the template's `usage_count`.
    pub async fn create_job_from_template(
        &self,
        actor: &Actor,
        template_id: ObjectId,
        values: &HashMap<String, String>,
        premium_allowed: bool,
        mut input: NewJob,
    ) -> Result<Job, MarketplaceError> {
        let template = self.template(template_id).await?;
        if !template.is_active {
            return Err(MarketplaceError::TemplateNotFound);
        }
        if template.is_premium && !premium_allowed {
            return Err(MarketplaceError::Forbidden {
                action: "use premium templates on this plan",
            });
        }
        let journey = &template.journey_template;
        input.scenario = fill_placeholders(&journey.scenario, values)?;
        let mut steps = journey.steps.clone();
        steps.sort_by_key(|step| step.step_number);
        input.steps = steps
            .iter()
            .map(|step| {
                Ok((
                    fill_placeholders(&step.action_template, values)?,
                    fill_placeholders(&step.expected_result_template, values)?,
                ))
            })
            .collect::<Result<_, MarketplaceError>>()?;
        let job = self
            .create_job_with_journey(actor, input, false, Some(template_id))
            .await?;
        self.templates
            .update_one(
                doc! { "_id": template_id },
                doc! { "$inc": { "usage_count": 1_i64 } },
            )
            .await?;
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_a_missing_one_is_named() {
        let values = HashMap::from([("product".to_string(), "a kettle".to_string())]);
        assert_eq!(
            fill_placeholders("Buy {{product}} then {{ product }}.", &values).unwrap(),
            "Buy a kettle then a kettle."
        );
        let error = fill_placeholders("Pay with {{payment_method}}", &values).unwrap_err();
        assert!(
            matches!(error, MarketplaceError::MissingTemplateVariable { ref name } if name == "payment_method")
        );
    }
}
