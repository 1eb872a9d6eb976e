//! [`OpenAiCompatible`]: an [`EnhancementProvider`] over any server that speaks the OpenAI
//! chat-completions API (`POST {base_url}/chat/completions` with a bearer key): OpenAI itself, a
//! proxy, or a local model server.
//!
//! Journeys are asked for as a JSON array of `{action, expected_result}` objects; summaries as
//! plain text. Whatever comes back is validated before it is offered to the service. The whole
//! exchange, body included, is bounded by the configured timeout and a size limit, and the key
//! never appears in `Debug` output or in errors.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{
    validated_steps, validated_summary, EnhancedContent, Enhancement, EnhancementFailure,
    EnhancementProvider, EnhancementRequest, EnhancementSubject,
};
use crate::error::MarketplaceError;

/// Largest reply body read from the provider; a longer one is malformed.
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// The longest a connection attempt may take (within the overall timeout).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Enhancement through an OpenAI-compatible chat-completions endpoint.
#[derive(Clone)]
pub struct OpenAiCompatible {
    endpoint: String,
    model: String,
    api_key: String,
    timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiCompatible")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiCompatible {
    /// A provider posting to `{base_url}/chat/completions` (e.g. base URL
    /// `https://api.openai.com/v1`) with `model`, authenticated by `api_key`, giving up after
    /// `timeout`. Refuses a base URL that is not http(s), an empty model or a zero timeout.
    pub fn new(
        base_url: &str,
        model: impl Into<String>,
        api_key: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, EnhancementFailure> {
        let base_url = base_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(base_url).map_err(|error| {
            EnhancementFailure::Misconfigured(format!("base URL {base_url:?}: {error}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EnhancementFailure::Misconfigured(format!(
                "base URL {base_url:?} is not http or https"
            )));
        }
        let model = model.into();
        if model.trim().is_empty() {
            return Err(EnhancementFailure::Misconfigured("empty model name".into()));
        }
        if timeout.is_zero() {
            return Err(EnhancementFailure::Misconfigured("zero timeout".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|error| EnhancementFailure::Misconfigured(error.to_string()))?;
        Ok(Self {
            endpoint: format!("{base_url}/chat/completions"),
            model,
            api_key: api_key.into(),
            timeout,
            http,
        })
    }

    /// The full URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The model named in every request.
    pub fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, system: &str, user: &str) -> Result<String, EnhancementFailure> {
        let body = ChatRequest {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: system,
                },
                ChatMessage {
                    role: "user",
                    content: user,
                },
            ],
        };
        let mut response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|error| self.transport_failure(error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(EnhancementFailure::Status(status.as_u16()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport_failure(error))?
        {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(EnhancementFailure::MalformedReply(format!(
                    "reply larger than {MAX_REPLY_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let reply: ChatResponse = serde_json::from_slice(&bytes).map_err(|error| {
            EnhancementFailure::MalformedReply(format!("not a chat completion: {error}"))
        })?;
        reply
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or_else(|| EnhancementFailure::MalformedReply("no message in the reply".into()))
    }

    fn transport_failure(&self, error: reqwest::Error) -> EnhancementFailure {
        if error.is_timeout() {
            EnhancementFailure::Timeout(self.timeout)
        } else {
            // The causes say what went wrong (refused, DNS, TLS); the URL is the configured one.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            EnhancementFailure::Unreachable(message)
        }
    }

    async fn enhance_request(
        &self,
        request: &EnhancementRequest,
    ) -> Result<Enhancement, EnhancementFailure> {
        let content = match &request.subject {
            EnhancementSubject::Journey { scenario, steps } => {
                let current = serde_json::Value::Array(
                    steps
                        .iter()
                        .map(|step| {
                            serde_json::json!({
                                "action": step.action,
                                "expected_result": step.expected_result,
                            })
                        })
                        .collect(),
                );
                let prompt = format!(
                    "{instructions}\n\nScenario: {scenario}\n\nCurrent steps (JSON):\n{current:#}\n\n\
                     Reply with only a JSON array of objects, one per step in order, each with \
                     the string fields \"action\" and \"expected_result\". No other text.",
                    instructions = request.instructions,
                );
                let reply = self.complete(&request.system_prompt, &prompt).await?;
                EnhancedContent::Journey(parse_journey_reply(&reply)?)
            }
            EnhancementSubject::SubmissionSummary { summary } => {
                let prompt = format!(
                    "{instructions}\n\nSummary:\n{summary}\n\n\
                     Reply with only the improved summary text.",
                    instructions = request.instructions,
                );
                let reply = self.complete(&request.system_prompt, &prompt).await?;
                EnhancedContent::SubmissionSummary(validated_summary(&reply)?)
            }
        };
        Ok(Enhancement {
            provider: format!("openai-compatible ({})", self.model),
            enhanced: true,
            note: format!("enhanced by {}", self.model),
            content,
        })
    }
}

impl EnhancementProvider for OpenAiCompatible {
    fn enhance<'a>(
        &'a self,
        request: &'a EnhancementRequest,
    ) -> BoxFuture<'a, Result<Enhancement, MarketplaceError>> {
        Box::pin(async move { Ok(self.enhance_request(request).await?) })
    }
}

/// The steps in a journey reply: a JSON array of `{action, expected_result}`, possibly wrapped in
/// a Markdown code fence (models often add one even when told not to).
fn parse_journey_reply(reply: &str) -> Result<Vec<crate::job::JourneyStep>, EnhancementFailure> {
    let steps: Vec<StepReply> =
        serde_json::from_str(without_code_fence(reply)).map_err(|error| {
            EnhancementFailure::MalformedReply(format!(
                "expected a JSON array of {{action, expected_result}}: {error}"
            ))
        })?;
    validated_steps(
        steps
            .into_iter()
            .map(|step| (step.action, step.expected_result)),
    )
}

fn without_code_fence(reply: &str) -> &str {
    let trimmed = reply.trim();
    let Some(fenced) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let body = fenced.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<ChatChoice>,
}

#[derive(Deserialize)]
struct ChatChoice {
    message: ChatReplyMessage,
}

#[derive(Deserialize)]
struct ChatReplyMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct StepReply {
    action: String,
    expected_result: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let provider = OpenAiCompatible::new(
            "https://llm.test/v1/",
            "gpt-test",
            "sk-very-secret",
            Duration::from_secs(5),
        )
        .unwrap();
        let printed = format!("{provider:?}");
        assert!(!printed.contains("sk-very-secret"), "{printed}");
        assert!(printed.contains("<redacted>"));
        assert_eq!(provider.endpoint(), "https://llm.test/v1/chat/completions");
    }

    #[test]
    fn unusable_settings_are_refused() {
        let build = |url: &str, model: &str, timeout| {
            OpenAiCompatible::new(url, model, "key", Duration::from_millis(timeout))
        };
        assert!(build("ftp://llm.test", "m", 1000).is_err());
        assert!(build("not a url", "m", 1000).is_err());
        assert!(build("http://llm.test", " ", 1000).is_err());
        assert!(build("http://llm.test", "m", 0).is_err());
    }

    #[test]
    fn journey_replies_may_be_fenced_and_must_hold_steps() {
        let plain = r#"[{"action": "Open the shop", "expected_result": "Home page"}]"#;
        let fenced = format!("```json\n{plain}\n```");
        for reply in [plain.to_string(), fenced] {
            let steps = parse_journey_reply(&reply).unwrap();
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].action, "Open the shop");
            assert_eq!(steps[0].step_number, 1);
        }
        for bad in [
            "Sure! Here are your steps.",
            "[]",
            r#"[{"action": "Open"}]"#,
            r#"{"action": "Open", "expected_result": "ok"}"#,
        ] {
            assert!(
                matches!(
                    parse_journey_reply(bad),
                    Err(EnhancementFailure::MalformedReply(_))
                ),
                "{bad}"
            );
        }
    }
}
