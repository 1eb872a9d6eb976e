//! AI enhancement of journeys and submission summaries: the OpenAI-compatible provider against a
//! stub server on 127.0.0.1 (which checks the key, model and messages it receives and answers
//! with a canned completion, an error status, or nothing at all), the pass-through default, and
//! who may enhance what, when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use marketplace::{
    Actor, EnhancedContent, Enhancement, EnhancementFailure, EnhancementProvider,
    EnhancementRequest, EnhancementSubject, ErrorCategory, MarketplaceError, MarketplaceService,
    OpenAiCompatible, ReviewDecision, SubmissionStatus, DEFAULT_JOURNEY_SYSTEM_PROMPT,
    DEFAULT_SUMMARY_INSTRUCTIONS, DEFAULT_SUMMARY_SYSTEM_PROMPT,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{checkout_template, client, conflict, content, fixture, tester, Fixture};

const STUB_KEY: &str = "sk-stub-0123456789";
const STUB_MODEL: &str = "stub-model-1";

/// How the stub answers a well-formed, correctly authenticated request.
#[derive(Clone)]
enum StubReply {
    /// 200 with a chat completion whose message content is this text.
    Completion(String),
    /// This HTTP status with a JSON error body.
    Status(u16),
    /// Reads the request and never answers.
    Silent,
}

/// A request the stub received.
#[derive(Debug, Clone)]
struct SeenRequest {
    authorization: Option<String>,
    body: Value,
}

impl SeenRequest {
    fn message(&self, index: usize) -> (&str, &str) {
        let message = &self.body["messages"][index];
        (
            message["role"].as_str().unwrap_or_default(),
            message["content"].as_str().unwrap_or_default(),
        )
    }
}

/// A stub OpenAI-compatible server on an ephemeral local port.
struct Stub {
    base_url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Stub {
    async fn start(reply: StubReply) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, reply.clone(), recorded.clone()));
            }
        });
        Stub { base_url, seen }
    }

    fn provider(&self, timeout: Duration) -> Arc<dyn EnhancementProvider> {
        Arc::new(OpenAiCompatible::new(&self.base_url, STUB_MODEL, STUB_KEY, timeout).unwrap())
    }

    fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request, records it, and answers as configured. A request on the wrong
/// path, without the stub's key, for another model or without a system and a user message gets
/// 404, 401 or 400 instead of the canned completion.
async fn answer(mut stream: TcpStream, reply: StubReply, seen: Arc<Mutex<Vec<SeenRequest>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
    let body: Value =
        serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
    let request = SeenRequest {
        authorization: headers.get("authorization").cloned(),
        body,
    };
    seen.lock().unwrap().push(request.clone());

    let well_formed = request.body["model"] == STUB_MODEL
        && request.message(0).0 == "system"
        && request.message(1).0 == "user"
        && !request.message(1).1.is_empty();
    let (status, body) = if request_line != "POST /v1/chat/completions HTTP/1.1" {
        (404, json!({ "error": { "message": "no such route" } }))
    } else if request.authorization.as_deref() != Some(&format!("Bearer {STUB_KEY}")) {
        (401, json!({ "error": { "message": "invalid api key" } }))
    } else if !well_formed {
        (400, json!({ "error": { "message": "bad request" } }))
    } else {
        match reply {
            StubReply::Silent => std::future::pending().await,
            StubReply::Status(status) => (status, json!({ "error": { "message": "upstream" } })),
            StubReply::Completion(content) => (
                200,
                json!({
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "model": STUB_MODEL,
                    "choices": [{
                        "index": 0,
                        "message": { "role": "assistant", "content": content },
                        "finish_reason": "stop",
                    }],
                }),
            ),
        }
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status} Stub\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

const ENHANCED_STEPS: &str = r#"```json
[
  {"action": "Open shop.test on the phone", "expected_result": "The home page loads within 3 seconds"},
  {"action": "Search for a kettle and open it", "expected_result": "The kettle's page shows its price"},
  {"action": "Add it to the cart", "expected_result": "The cart badge shows 1"},
  {"action": "Pay with the test card", "expected_result": "An order number shows"}
]
```"#;

fn with_enhancer(fixture: &Fixture, enhancer: Arc<dyn EnhancementProvider>) -> MarketplaceService {
    fixture.service.clone().with_enhancer(enhancer)
}

fn unavailable(error: &MarketplaceError) -> Option<&EnhancementFailure> {
    assert_eq!(error.category(), ErrorCategory::Unavailable, "{error:?}");
    match error {
        MarketplaceError::EnhancementUnavailable(failure) => Some(failure),
        _ => None,
    }
}

impl Fixture {
    async fn draft_job(&self, owner: &Actor) -> ObjectId {
        self.service
            .create_job(owner, self.new_job(owner, 2).await)
            .await
            .unwrap()
            .id
    }

    /// A tester seated on a new open job with a saved draft submission; the submission's id.
    async fn draft_submission(&self, owner: &Actor, actor: &Actor) -> (ObjectId, ObjectId) {
        let job = self.open_job(owner, 2).await;
        let (_, mut profile) = tester();
        profile.tester_id = actor.user_id;
        self.service
            .claim_job(actor, &profile, job.id)
            .await
            .unwrap();
        let draft = self.service.create_submission(actor, job.id).await.unwrap();
        self.service
            .save_submission(actor, draft.id, content(1))
            .await
            .unwrap();
        (job.id, draft.id)
    }
}

#[tokio::test]
async fn an_enhanced_journey_replaces_the_steps_renumbered_and_marks_the_job_ai_generated() {
    let fixture = fixture().await;
    let admin = Actor {
        user_id: ObjectId::new(),
        role: marketplace::ActorRole::Admin,
        organization: None,
        organization_rules: Default::default(),
    };
    let mut template = checkout_template();
    template.openai_system_prompt = "You are a checkout QA expert.".into();
    template.enhancement_instructions = "Add a step for the cart badge.".into();
    let template = fixture
        .service
        .create_template(&admin, template)
        .await
        .unwrap();
    let owner = client();
    let values = HashMap::from([
        ("product".to_string(), "a kettle".to_string()),
        ("site".to_string(), "shop.test".to_string()),
    ]);
    let job = fixture
        .service
        .create_job_from_template(
            &owner,
            template.id,
            &values,
            false,
            fixture.new_job(&owner, 1).await,
        )
        .await
        .unwrap();
    assert!(!job.user_journey.ai_generated);
    let stub = Stub::start(StubReply::Completion(ENHANCED_STEPS.into())).await;
    let service = with_enhancer(&fixture, stub.provider(Duration::from_secs(30)));

    let enhanced = service.enhance_job_journey(&owner, job.id).await.unwrap();

    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-stub-0123456789")
    );
    assert_eq!(seen[0].body["model"], STUB_MODEL);
    assert_eq!(
        seen[0].message(0),
        ("system", "You are a checkout QA expert.")
    );
    let (_, user) = seen[0].message(1);
    assert!(user.starts_with("Add a step for the cart badge."), "{user}");
    assert!(user.contains("Buy a kettle on shop.test"), "{user}");
    assert!(user.contains("Pay for a kettle"), "{user}");
    assert!(user.contains("expected_result"), "{user}");

    assert!(enhanced.enhancement.enhanced);
    assert_eq!(
        enhanced.enhancement.provider,
        "openai-compatible (stub-model-1)"
    );
    assert!(enhanced.enhancement.note.contains(STUB_MODEL));
    let journey = &enhanced.job.user_journey;
    assert!(journey.ai_generated);
    assert_eq!(journey.ai_template_id, Some(template.id));
    assert_eq!(journey.scenario, "Buy a kettle on shop.test");
    let numbers: Vec<i32> = journey.steps.iter().map(|step| step.step_number).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    assert_eq!(journey.steps[2].action, "Add it to the cart");
    assert_eq!(journey.steps[2].expected_result, "The cart badge shows 1");
    assert_eq!(
        enhanced.enhancement.content,
        EnhancedContent::Journey(journey.steps.clone())
    );
    let raw = fixture.raw_job(job.id).await;
    let stored = raw.get_document("user_journey").unwrap();
    assert!(stored.get_bool("ai_generated").unwrap());
    assert_eq!(stored.get_array("steps").unwrap().len(), 4);
    assert_eq!(raw.get_str("status").unwrap(), "draft");
}

#[tokio::test]
async fn a_malformed_reply_is_unavailable_and_changes_nothing() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let before = fixture.raw_job(job).await;
    for reply in [
        "Sure! Here is a better journey: open the shop, then pay.",
        "[]",
        r#"[{"action": "Open the shop"}]"#,
        r#"[{"action": "  ", "expected_result": "nothing"}]"#,
    ] {
        let stub = Stub::start(StubReply::Completion(reply.into())).await;
        let service = with_enhancer(&fixture, stub.provider(Duration::from_secs(30)));
        let error = service.enhance_job_journey(&owner, job).await.unwrap_err();
        assert!(
            matches!(
                unavailable(&error),
                Some(EnhancementFailure::MalformedReply(_))
            ),
            "{reply}: {error:?}"
        );
        // A job without a template is enhanced with the default prompt.
        assert_eq!(
            stub.seen()[0].message(0),
            ("system", DEFAULT_JOURNEY_SYSTEM_PROMPT)
        );
        assert_eq!(fixture.raw_job(job).await, before);
    }
}

#[tokio::test]
async fn an_upstream_error_or_a_refused_key_is_unavailable_and_changes_nothing() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let before = fixture.raw_job(job).await;

    let failing = Stub::start(StubReply::Status(500)).await;
    let service = with_enhancer(&fixture, failing.provider(Duration::from_secs(30)));
    let error = service.enhance_job_journey(&owner, job).await.unwrap_err();
    assert_eq!(unavailable(&error), Some(&EnhancementFailure::Status(500)));
    assert_eq!(failing.seen().len(), 1);

    let answering = Stub::start(StubReply::Completion(ENHANCED_STEPS.into())).await;
    let wrong_key = OpenAiCompatible::new(
        &answering.base_url,
        STUB_MODEL,
        "sk-wrong",
        Duration::from_secs(30),
    )
    .unwrap();
    let service = with_enhancer(&fixture, Arc::new(wrong_key));
    let error = service.enhance_job_journey(&owner, job).await.unwrap_err();
    assert_eq!(unavailable(&error), Some(&EnhancementFailure::Status(401)));
    assert!(!error.to_string().contains("sk-wrong"), "{error}");

    let nobody = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}/v1", nobody.local_addr().unwrap());
    drop(nobody);
    let unreachable =
        OpenAiCompatible::new(&closed, STUB_MODEL, STUB_KEY, Duration::from_secs(30)).unwrap();
    let service = with_enhancer(&fixture, Arc::new(unreachable));
    let error = service.enhance_job_journey(&owner, job).await.unwrap_err();
    assert!(
        matches!(
            unavailable(&error),
            Some(EnhancementFailure::Unreachable(_))
        ),
        "{error:?}"
    );
    assert_eq!(fixture.raw_job(job).await, before);
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_as_unavailable() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let before = fixture.raw_job(job).await;
    let stub = Stub::start(StubReply::Silent).await;
    let timeout = Duration::from_millis(300);
    let service = with_enhancer(&fixture, stub.provider(timeout));
    let error = service.enhance_job_journey(&owner, job).await.unwrap_err();
    assert_eq!(
        unavailable(&error),
        Some(&EnhancementFailure::Timeout(timeout))
    );
    assert_eq!(stub.seen().len(), 1, "the request reached the stub");
    assert_eq!(fixture.raw_job(job).await, before);
}

#[tokio::test]
async fn without_a_provider_enhancement_passes_the_text_through_and_stores_nothing() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let before = fixture.raw_job(job).await;
    let passed = fixture
        .service
        .enhance_job_journey(&owner, job)
        .await
        .unwrap();
    assert!(!passed.enhancement.enhanced);
    assert_eq!(passed.enhancement.provider, "pass-through");
    assert!(passed
        .enhancement
        .note
        .contains("no AI provider is configured"));
    assert_eq!(
        passed.enhancement.content,
        EnhancedContent::Journey(passed.job.user_journey.steps.clone())
    );
    assert_eq!(fixture.raw_job(job).await, before);

    let (actor, _) = tester();
    let (_, submission) = fixture.draft_submission(&owner, &actor).await;
    let before = fixture.raw_submission(submission).await;
    let passed = fixture
        .service
        .enhance_submission_summary(&actor, submission)
        .await
        .unwrap();
    assert!(!passed.enhancement.enhanced);
    assert_eq!(
        passed.enhancement.content,
        EnhancedContent::SubmissionSummary("Checkout mostly works".into())
    );
    assert_eq!(passed.submission.ai_enhanced_summary, None);
    assert_eq!(fixture.raw_submission(submission).await, before);
}

#[tokio::test]
async fn only_a_manager_may_enhance_a_journey_and_only_while_the_job_is_a_draft() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let stub = Stub::start(StubReply::Completion(ENHANCED_STEPS.into())).await;
    let service = with_enhancer(&fixture, stub.provider(Duration::from_secs(30)));
    let before = fixture.raw_job(job).await;

    let stranger = service
        .enhance_job_journey(&client(), job)
        .await
        .unwrap_err();
    assert_eq!(stranger.category(), ErrorCategory::Forbidden);
    let (tester_actor, _) = tester();
    let tester_error = service
        .enhance_job_journey(&tester_actor, job)
        .await
        .unwrap_err();
    assert_eq!(tester_error.category(), ErrorCategory::Forbidden);
    assert_eq!(fixture.raw_job(job).await, before);

    fixture
        .service
        .publish_job(&owner, job, super::LIMITS, super::PAYER, super::SOURCE)
        .await
        .unwrap();
    let before = fixture.raw_job(job).await;
    let locked = service.enhance_job_journey(&owner, job).await.unwrap_err();
    assert!(matches!(locked, MarketplaceError::JourneyLocked));
    assert!(conflict(&locked));
    assert_eq!(fixture.raw_job(job).await, before);
    assert!(
        stub.seen().is_empty(),
        "refused requests never reach the provider"
    );
}

/// A provider that holds its answer until the test lets it go, to edit the journey meanwhile.
#[derive(Debug, Default)]
struct HeldProvider {
    asked: Notify,
    release: Notify,
}

impl EnhancementProvider for HeldProvider {
    fn enhance<'a>(
        &'a self,
        request: &'a EnhancementRequest,
    ) -> BoxFuture<'a, Result<Enhancement, MarketplaceError>> {
        Box::pin(async move {
            self.asked.notify_one();
            self.release.notified().await;
            let EnhancementSubject::Journey { steps, .. } = &request.subject else {
                panic!("asked for a journey");
            };
            let mut steps = steps.clone();
            steps.reverse();
            Ok(Enhancement {
                provider: "held".into(),
                enhanced: true,
                note: "reversed".into(),
                content: EnhancedContent::Journey(steps),
            })
        })
    }
}

#[tokio::test]
async fn a_journey_edited_while_the_provider_works_is_not_overwritten() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.draft_job(&owner).await;
    let provider = Arc::new(HeldProvider::default());
    let service = with_enhancer(&fixture, provider.clone());
    let enhancing = {
        let owner = owner.clone();
        tokio::spawn(async move { service.enhance_job_journey(&owner, job).await })
    };
    provider.asked.notified().await;
    fixture
        .service
        .update_job_journey(
            &owner,
            job,
            "Returns".into(),
            vec![("Open the orders".into(), "The orders list shows".into())],
        )
        .await
        .unwrap();
    let edited = fixture.raw_job(job).await;
    provider.release.notify_one();
    let error = enhancing.await.unwrap().unwrap_err();
    assert!(
        matches!(error, MarketplaceError::ChangedDuringEnhancement),
        "{error:?}"
    );
    assert!(conflict(&error));
    assert_eq!(fixture.raw_job(job).await, edited);
}

#[tokio::test]
async fn an_enhanced_summary_is_stored_beside_the_testers_own() {
    let fixture = fixture().await;
    let owner = client();
    let (actor, _) = tester();
    let (_, submission) = fixture.draft_submission(&owner, &actor).await;
    let stub = Stub::start(StubReply::Completion(
        "  Checkout works on iPhone; payment hangs on step 3.\n".into(),
    ))
    .await;
    let service = with_enhancer(&fixture, stub.provider(Duration::from_secs(30)));

    let enhanced = service
        .enhance_submission_summary(&actor, submission)
        .await
        .unwrap();

    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].message(0),
        ("system", DEFAULT_SUMMARY_SYSTEM_PROMPT)
    );
    let (_, user) = seen[0].message(1);
    assert!(user.starts_with(DEFAULT_SUMMARY_INSTRUCTIONS), "{user}");
    assert!(user.contains("Checkout mostly works"), "{user}");
    assert!(enhanced.enhancement.enhanced);
    assert_eq!(
        enhanced.submission.ai_enhanced_summary.as_deref(),
        Some("Checkout works on iPhone; payment hangs on step 3.")
    );
    assert_eq!(enhanced.submission.summary, "Checkout mostly works");
    assert_eq!(enhanced.submission.status, SubmissionStatus::Draft);
    let raw = fixture.raw_submission(submission).await;
    assert_eq!(
        raw.get_str("ai_enhanced_summary").unwrap(),
        "Checkout works on iPhone; payment hangs on step 3."
    );

    // Saving the same summary keeps the enhancement; a new summary drops the stale one.
    let kept = fixture
        .service
        .save_submission(&actor, submission, content(2))
        .await
        .unwrap();
    assert!(kept.ai_enhanced_summary.is_some());
    let mut rewritten = content(2);
    rewritten.summary = "Payment hangs with every card".into();
    let dropped = fixture
        .service
        .save_submission(&actor, submission, rewritten)
        .await
        .unwrap();
    assert_eq!(dropped.ai_enhanced_summary, None);
}

#[tokio::test]
async fn only_the_submitting_tester_may_enhance_a_summary_and_only_while_it_is_editable() {
    let fixture = fixture().await;
    let owner = client();
    let (actor, _) = tester();
    let (_, submission) = fixture.draft_submission(&owner, &actor).await;
    let stub = Stub::start(StubReply::Completion("A clear summary.".into())).await;
    let service = with_enhancer(&fixture, stub.provider(Duration::from_secs(30)));
    let before = fixture.raw_submission(submission).await;

    let by_client = service
        .enhance_submission_summary(&owner, submission)
        .await
        .unwrap_err();
    // The client does not find a draft at all.
    assert_eq!(by_client.category(), ErrorCategory::NotFound);
    let (other_tester, _) = tester();
    let by_other = service
        .enhance_submission_summary(&other_tester, submission)
        .await
        .unwrap_err();
    assert!(matches!(by_other, MarketplaceError::SubmissionNotFound));
    assert_eq!(fixture.raw_submission(submission).await, before);

    fixture
        .service
        .submit_submission(&actor, submission)
        .await
        .unwrap();
    let before = fixture.raw_submission(submission).await;
    let submitted = service
        .enhance_submission_summary(&actor, submission)
        .await
        .unwrap_err();
    assert!(
        matches!(
            submitted,
            MarketplaceError::InvalidSubmissionTransition {
                from: "submitted",
                ..
            }
        ),
        "{submitted:?}"
    );
    assert!(conflict(&submitted));
    assert_eq!(fixture.raw_submission(submission).await, before);
    assert!(
        stub.seen().is_empty(),
        "refused requests never reach the provider"
    );

    fixture
        .service
        .review_submission(
            &owner,
            submission,
            ReviewDecision::RequestRevision {
                notes: "say which card".into(),
            },
            super::PAYER,
        )
        .await
        .unwrap();
    let revised = service
        .enhance_submission_summary(&actor, submission)
        .await
        .unwrap();
    assert_eq!(
        revised.submission.status,
        SubmissionStatus::RevisionRequested
    );
    assert_eq!(
        revised.submission.ai_enhanced_summary.as_deref(),
        Some("A clear summary.")
    );
}
