//! AI test templates: the catalogue query and the admin mutations that manage it.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::access::actor;
use super::types::AiTestTemplate;
use crate::error::{ApiError, ApiResult};
use crate::loaders::{load, TemplateLoader};
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::viewer::{Authenticated, HasRole};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn is_admin(ctx: &Context<'_>) -> bool {
    matches!(crate::viewer::viewer(ctx).user(), Ok(user) if user.role == identity::Role::Admin)
}

/// A template the caller may see: active ones for everyone signed in, inactive ones for admins.
pub async fn visible_template(
    ctx: &Context<'_>,
    id: async_graphql::ID,
) -> ApiResult<AiTestTemplate> {
    let template_id = GlobalId::decode_as(&id, NodeType::AiTestTemplate, "id")?;
    load(ctx, TemplateLoader(services(ctx).clone()), template_id)
        .await?
        .filter(|template| template.is_active || is_admin(ctx))
        .map(AiTestTemplate)
        .ok_or_else(|| ApiError::NotFound("test template not found".to_string()))
}

/// Template queries.
#[derive(Default)]
pub struct TemplateQuery;

/// Template queries.
#[Object]
impl TemplateQuery {
    /// The template catalogue, most used first. `includeInactive` is for admins.
    // The arguments are the field's GraphQL arguments (filters plus the four Relay ones).
    #[allow(clippy::too_many_arguments)]
    #[graphql(guard = "Authenticated")]
    async fn ai_test_templates(
        &self,
        ctx: &Context<'_>,
        category: Option<TemplateCategory>,
        #[graphql(default)] include_inactive: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<AiTestTemplate>> {
        if include_inactive && !is_admin(ctx) {
            return Err(ApiError::Forbidden(
                "only admins may list inactive templates".to_string(),
            ));
        }
        let templates = services(ctx)
            .marketplace()
            .list_templates(category.map(Into::into), include_inactive)
            .await?;
        connection_from_list(
            &page_request(first, after, last, before),
            templates,
            AiTestTemplate,
        )
    }

    /// One template.
    #[graphql(guard = "Authenticated")]
    async fn ai_test_template(&self, ctx: &Context<'_>, id: ID) -> ApiResult<AiTestTemplate> {
        visible_template(ctx, id).await
    }
}

/// The catalogue's categories.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::TemplateCategory")]
pub enum TemplateCategory {
    /// Shops, carts, checkouts.
    ECommerce,
    /// Software as a service.
    Saas,
    /// Mobile apps.
    MobileApp,
    /// APIs.
    Api,
    /// Anything else.
    General,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// What a template produces.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::TemplateType")]
pub enum TemplateType {
    /// A user journey: a scenario and numbered steps.
    UserJourney,
    /// A checklist.
    TestChecklist,
    /// A guide for exploratory testing.
    ExploratoryGuide,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// A variable a template's steps use as `{{name}}`.
#[derive(InputObject)]
pub struct TemplateVariableInput {
    /// Name (letters, digits, `_`).
    pub name: String,
    /// What it means.
    #[graphql(default)]
    pub description: String,
    /// An example value.
    #[graphql(default)]
    pub example: String,
}

/// One templated step.
#[derive(InputObject)]
pub struct TemplateStepInput {
    /// The action, with `{{variables}}`.
    pub action_template: String,
    /// The expected result, with `{{variables}}`.
    pub expected_result_template: String,
}

/// Input of `updateAiTestTemplate`.
#[derive(InputObject)]
pub struct UpdateAiTestTemplateInput {
    /// The template.
    pub template_id: ID,
    /// Its new content, as for `createAiTestTemplate`.
    pub template: CreateAiTestTemplateInput,
}

/// Input of `createAiTestTemplate`.
#[derive(InputObject)]
pub struct CreateAiTestTemplateInput {
    /// Name.
    pub name: String,
    /// Description.
    #[graphql(default)]
    pub description: String,
    /// Category.
    pub category: TemplateCategory,
    /// Template type.
    #[graphql(default_with = "TemplateType::UserJourney")]
    pub template_type: TemplateType,
    /// The scenario, with `{{variables}}`.
    pub scenario: String,
    /// The variables.
    #[graphql(default)]
    pub variables: Vec<TemplateVariableInput>,
    /// The steps, numbered in the order given.
    pub steps: Vec<TemplateStepInput>,
    /// Whether only pro and team clients (and organizations) may use it.
    #[graphql(default)]
    pub is_premium: bool,
    /// System prompt for AI enhancement of journeys made from it (default prompt when empty).
    #[graphql(default)]
    pub openai_system_prompt: String,
    /// Extra instructions for that enhancement.
    #[graphql(default)]
    pub enhancement_instructions: String,
}

/// Input of `setAiTestTemplateActive`.
#[derive(InputObject)]
pub struct SetAiTestTemplateActiveInput {
    /// The template.
    pub template_id: ID,
    /// Offer (`true`) or withdraw (`false`) it.
    pub active: bool,
}

/// A template after a change.
#[derive(SimpleObject)]
pub struct AiTestTemplatePayload {
    /// The template.
    pub template: AiTestTemplate,
}

/// Template mutations (admins only).
#[derive(Default)]
pub struct TemplateMutation;

/// Template mutations (admins only).
#[Object]
impl TemplateMutation {
    /// Adds a template to the catalogue.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn create_ai_test_template(
        &self,
        ctx: &Context<'_>,
        input: CreateAiTestTemplateInput,
    ) -> ApiResult<AiTestTemplatePayload> {
        let actor = actor(ctx).await?;
        let template = services(ctx)
            .marketplace()
            .create_template(&actor, new_template(input))
            .await?;
        Ok(AiTestTemplatePayload {
            template: AiTestTemplate(template),
        })
    }

    /// Replaces a template's content with `template` (the same fields and bounds as
    /// `createAiTestTemplate`); its usage count and whether it is offered stay, and jobs already
    /// made from it keep their journeys. Admins only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn update_ai_test_template(
        &self,
        ctx: &Context<'_>,
        input: UpdateAiTestTemplateInput,
    ) -> ApiResult<AiTestTemplatePayload> {
        let template_id =
            GlobalId::decode_as(&input.template_id, NodeType::AiTestTemplate, "templateId")?;
        let actor = actor(ctx).await?;
        let template = services(ctx)
            .marketplace()
            .replace_template(&actor, template_id, new_template(input.template))
            .await?;
        Ok(AiTestTemplatePayload {
            template: AiTestTemplate(template),
        })
    }

    /// Offers or withdraws a template; jobs already made from it keep their journeys.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn set_ai_test_template_active(
        &self,
        ctx: &Context<'_>,
        input: SetAiTestTemplateActiveInput,
    ) -> ApiResult<AiTestTemplatePayload> {
        let template_id =
            GlobalId::decode_as(&input.template_id, NodeType::AiTestTemplate, "templateId")?;
        let actor = actor(ctx).await?;
        let template = services(ctx)
            .marketplace()
            .set_template_active(&actor, template_id, input.active)
            .await?;
        Ok(AiTestTemplatePayload {
            template: AiTestTemplate(template),
        })
    }
}

/// The domain's template from the create input (also the replacement content of an update).
fn new_template(input: CreateAiTestTemplateInput) -> marketplace::NewTemplate {
    marketplace::NewTemplate {
        name: input.name,
        description: input.description,
        category: input.category.into(),
        template_type: input.template_type.into(),
        journey_template: marketplace::JourneyTemplate {
            scenario: input.scenario,
            variables: input
                .variables
                .into_iter()
                .map(|variable| marketplace::TemplateVariable {
                    name: variable.name,
                    description: variable.description,
                    example: variable.example,
                })
                .collect(),
            steps: input
                .steps
                .into_iter()
                .enumerate()
                .map(|(index, step)| marketplace::TemplateStep {
                    step_number: index as i32 + 1,
                    action_template: step.action_template,
                    expected_result_template: step.expected_result_template,
                })
                .collect(),
        },
        is_premium: input.is_premium,
        openai_system_prompt: input.openai_system_prompt,
        enhancement_instructions: input.enhancement_instructions,
    }
}
