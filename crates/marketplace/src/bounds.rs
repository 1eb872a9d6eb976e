//! What the marketplace accepts as text and lists: every free-text field has a length, every
//! list a size, every link a scheme. Checked before anything is written, so a bad value is a
//! `BAD_USER_INPUT` naming the field rather than a database validator's rejection.

use bson::DateTime;

use crate::error::MarketplaceError;
use crate::job::{NewJob, MAX_INVITED_TESTERS};
use crate::submission::SubmissionContent;

/// Names (projects, templates).
pub const MAX_NAME_CHARS: usize = 200;
/// Descriptions and short instructions.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
/// Scenarios, prompts and step texts.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;
/// Links.
pub const MAX_URL_CHARS: usize = 2_048;
/// Items of a target list (devices, browsers, operating systems).
pub const MAX_TARGETS: usize = 50;
/// One item of a target list.
pub const MAX_LABEL_CHARS: usize = 100;
/// Steps of a template.
pub const MAX_TEMPLATE_STEPS: usize = 100;
/// Variables of a template.
pub const MAX_TEMPLATE_VARIABLES: usize = 50;
/// Steps of a job's journey.
pub const MAX_JOURNEY_STEPS: usize = 100;
/// Longest expected effort of one seat, in minutes: a working week.
pub const MAX_ESTIMATED_MINUTES: i32 = 10_080;
/// Furthest a job's deadline may be, in days from now.
pub const MAX_DEADLINE_DAYS_AHEAD: i64 = 366;
/// Bug reports in one submission.
pub const MAX_BUGS: usize = 100;
/// Steps to reproduce one bug.
pub const MAX_REPRODUCTION_STEPS: usize = 50;
/// Screenshots attached to one step result or bug.
pub const MAX_SCREENSHOTS: usize = 20;
/// Time a tester may report for one submission, in minutes.
pub const MAX_TIME_SPENT_MINUTES: i32 = MAX_ESTIMATED_MINUTES;

fn invalid(field: &'static str, reason: impl Into<String>) -> MarketplaceError {
    MarketplaceError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// A closed-set value given as input: the `Other` variant that stands for stored values this
/// version does not know is refused (`is_other`).
pub fn known(field: &'static str, is_other: bool) -> Result<(), MarketplaceError> {
    if is_other {
        return Err(invalid(
            field,
            "OTHER only reports stored values this version does not know; choose a listed value",
        ));
    }
    Ok(())
}

/// A text of at most `max_chars` characters; `required` ones must have a non-blank character.
pub fn text(
    field: &'static str,
    value: &str,
    required: bool,
    max_chars: usize,
) -> Result<(), MarketplaceError> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(invalid(field, format!("at most {max_chars} characters")));
    }
    Ok(())
}

/// A list of at most `max_items` non-blank labels of at most `MAX_LABEL_CHARS` each.
pub fn labels(
    field: &'static str,
    items: &[String],
    max_items: usize,
) -> Result<(), MarketplaceError> {
    if items.len() > max_items {
        return Err(invalid(field, format!("at most {max_items} items")));
    }
    for item in items {
        text(field, item, true, MAX_LABEL_CHARS)?;
    }
    Ok(())
}

/// An `http` or `https` link with a host, at most `MAX_URL_CHARS`; empty is allowed unless
/// `required`.
pub fn web_url(field: &'static str, value: &str, required: bool) -> Result<(), MarketplaceError> {
    if value.is_empty() && !required {
        return Ok(());
    }
    text(field, value, true, MAX_URL_CHARS)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid(field, "must be an http:// or https:// link"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(field, "must be a link with a host and no spaces"));
    }
    Ok(())
}

/// An `https` link with a host and no spaces, at most `MAX_URL_CHARS`: attachments are shown
/// to clients, so plain `http` and other schemes are refused.
pub fn https_url(field: &'static str, value: &str) -> Result<(), MarketplaceError> {
    if !value.starts_with("https://") {
        return Err(invalid(field, "must be an https:// link"));
    }
    web_url(field, value, true)
}

/// A submission's content: summary, step results, bug reports (texts, reproduction steps,
/// https attachments, lists), environment and time spent.
pub fn submission(content: &SubmissionContent) -> Result<(), MarketplaceError> {
    text("summary", &content.summary, false, MAX_LONG_TEXT_CHARS)?;
    if content.test_results.len() > MAX_JOURNEY_STEPS {
        return Err(invalid(
            "test_results",
            format!("at most {MAX_JOURNEY_STEPS} step results"),
        ));
    }
    for result in &content.test_results {
        text(
            "test_results.notes",
            &result.notes,
            false,
            MAX_DESCRIPTION_CHARS,
        )?;
        screenshots("test_results.screenshots", &result.screenshots)?;
    }
    if content.bugs.len() > MAX_BUGS {
        return Err(invalid("bugs", format!("at most {MAX_BUGS} bug reports")));
    }
    for bug in &content.bugs {
        text("bugs.title", &bug.title, true, MAX_NAME_CHARS)?;
        text(
            "bugs.description",
            &bug.description,
            false,
            MAX_DESCRIPTION_CHARS,
        )?;
        if bug.steps_to_reproduce.len() > MAX_REPRODUCTION_STEPS {
            return Err(invalid(
                "bugs.steps_to_reproduce",
                format!("at most {MAX_REPRODUCTION_STEPS} steps"),
            ));
        }
        for step in &bug.steps_to_reproduce {
            text("bugs.steps_to_reproduce", step, true, MAX_DESCRIPTION_CHARS)?;
        }
        text(
            "bugs.expected_behavior",
            &bug.expected_behavior,
            false,
            MAX_DESCRIPTION_CHARS,
        )?;
        text(
            "bugs.actual_behavior",
            &bug.actual_behavior,
            false,
            MAX_DESCRIPTION_CHARS,
        )?;
        screenshots("bugs.screenshots", &bug.screenshots)?;
        if let Some(video) = &bug.video_url {
            https_url("bugs.video_url", video)?;
        }
        labels("bugs.affected_devices", &bug.affected_devices, MAX_TARGETS)?;
        labels(
            "bugs.affected_browsers",
            &bug.affected_browsers,
            MAX_TARGETS,
        )?;
    }
    let environment = &content.environment;
    for (field, value) in [
        ("environment.device_used", &environment.device_used),
        ("environment.browser_used", &environment.browser_used),
        ("environment.browser_version", &environment.browser_version),
        ("environment.os_used", &environment.os_used),
        ("environment.os_version", &environment.os_version),
        (
            "environment.screen_resolution",
            &environment.screen_resolution,
        ),
    ] {
        text(field, value, false, MAX_LABEL_CHARS)?;
    }
    if !(0..=MAX_TIME_SPENT_MINUTES).contains(&content.time_spent_minutes) {
        return Err(invalid(
            "time_spent_minutes",
            format!("must be 0 to {MAX_TIME_SPENT_MINUTES} minutes"),
        ));
    }
    Ok(())
}

fn screenshots(field: &'static str, links: &[String]) -> Result<(), MarketplaceError> {
    if links.len() > MAX_SCREENSHOTS {
        return Err(invalid(
            field,
            format!("at most {MAX_SCREENSHOTS} screenshots"),
        ));
    }
    links.iter().try_for_each(|link| https_url(field, link))
}

/// A journey: a scenario and at most `MAX_JOURNEY_STEPS` steps, each with an action.
pub fn journey(scenario: &str, steps: &[(String, String)]) -> Result<(), MarketplaceError> {
    text("scenario", scenario, false, MAX_LONG_TEXT_CHARS)?;
    if steps.len() > MAX_JOURNEY_STEPS {
        return Err(invalid(
            "steps",
            format!("at most {MAX_JOURNEY_STEPS} steps"),
        ));
    }
    for (index, (action, expected_result)) in steps.iter().enumerate() {
        if action.trim().is_empty() {
            return Err(invalid(
                "steps",
                format!("step {} has no action", index + 1),
            ));
        }
        text("steps", action, true, MAX_DESCRIPTION_CHARS)?;
        text("steps", expected_result, false, MAX_DESCRIPTION_CHARS)?;
    }
    Ok(())
}

/// Everything a job states besides money (seats and pay are `commitment::job_budget`'s): its
/// texts, requirement lists, invite list, journey, expected effort and a deadline after `now`
/// and at most `MAX_DEADLINE_DAYS_AHEAD` days ahead.
pub fn job(input: &NewJob, now: DateTime) -> Result<(), MarketplaceError> {
    text("title", &input.title, true, MAX_NAME_CHARS)?;
    text(
        "description",
        &input.description,
        false,
        MAX_DESCRIPTION_CHARS,
    )?;
    labels("required_devices", &input.required_devices, MAX_TARGETS)?;
    labels("required_browsers", &input.required_browsers, MAX_TARGETS)?;
    labels("required_os", &input.required_os, MAX_TARGETS)?;
    if input.invited_tester_ids.len() > MAX_INVITED_TESTERS {
        return Err(invalid(
            "invited_tester_ids",
            format!("at most {MAX_INVITED_TESTERS} testers may be invited"),
        ));
    }
    journey(&input.scenario, &input.steps)?;
    if let Some(minutes) = input.estimated_duration_minutes {
        if !(1..=MAX_ESTIMATED_MINUTES).contains(&minutes) {
            return Err(invalid(
                "estimated_duration_minutes",
                format!("must be 1 to {MAX_ESTIMATED_MINUTES} minutes"),
            ));
        }
    }
    if input.deadline <= now {
        return Err(invalid("deadline", "must be in the future"));
    }
    let furthest = now.timestamp_millis() + MAX_DEADLINE_DAYS_AHEAD * 86_400_000;
    if input.deadline.timestamp_millis() > furthest {
        return Err(invalid(
            "deadline",
            format!("at most {MAX_DEADLINE_DAYS_AHEAD} days ahead"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), MarketplaceError>) -> Option<&'static str> {
        match result {
            Err(MarketplaceError::InvalidInput { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn empty_huge_and_malformed_values_name_their_field() {
        assert_eq!(field_of(text("name", "  ", true, 10)), Some("name"));
        assert_eq!(
            field_of(text("name", &"x".repeat(11), true, 10)),
            Some("name")
        );
        assert_eq!(field_of(text("description", "", false, 10)), None);
        assert_eq!(
            field_of(web_url("url", "javascript:alert(1)", true)),
            Some("url")
        );
        assert_eq!(field_of(web_url("url", "https://", true)), Some("url"));
        assert_eq!(
            field_of(web_url("url", "https://a b.io", true)),
            Some("url")
        );
        assert_eq!(
            field_of(web_url("url", "https://shop.example.com/x?y", true)),
            None
        );
        assert_eq!(field_of(web_url("url", "", false)), None);
        let many = vec!["chrome".to_string(); MAX_TARGETS + 1];
        assert_eq!(
            field_of(labels("target_browsers", &many, MAX_TARGETS)),
            Some("target_browsers")
        );
        assert_eq!(
            field_of(labels("target_os", &[String::new()], MAX_TARGETS)),
            Some("target_os")
        );
    }

    fn a_job(now: DateTime) -> NewJob {
        NewJob {
            project_id: bson::oid::ObjectId::new(),
            title: "Checkout".into(),
            description: String::new(),
            test_type: crate::job::TestType::UserJourney,
            scenario: "Buy".into(),
            steps: vec![("Pay".into(), "Paid".into())],
            required_devices: vec![],
            required_browsers: vec![],
            required_os: vec![],
            tester_level: crate::job::TesterLevel::Any,
            max_testers: 1,
            budget_per_tester_cents: 100,
            deadline: DateTime::from_millis(now.timestamp_millis() + 86_400_000),
            estimated_duration_minutes: Some(30),
            visibility: crate::job::Visibility::Public,
            invited_tester_ids: vec![],
        }
    }

    /// One change to a valid job.
    type JobChange = Box<dyn Fn(&mut NewJob)>;

    #[test]
    fn a_job_outside_its_bounds_names_the_field() {
        let now = DateTime::from_millis(1_900_000_000_000);
        assert_eq!(field_of(job(&a_job(now), now)), None);
        let cases: Vec<(&str, JobChange)> = vec![
            ("title", Box::new(|j| j.title = " ".into())),
            (
                "title",
                Box::new(|j| j.title = "t".repeat(MAX_NAME_CHARS + 1)),
            ),
            (
                "description",
                Box::new(|j| j.description = "d".repeat(MAX_DESCRIPTION_CHARS + 1)),
            ),
            (
                "required_devices",
                Box::new(|j| j.required_devices = vec!["x".into(); MAX_TARGETS + 1]),
            ),
            (
                "required_os",
                Box::new(|j| j.required_os = vec![String::new()]),
            ),
            (
                "steps",
                Box::new(|j| j.steps = vec![("a".into(), "b".into()); MAX_JOURNEY_STEPS + 1]),
            ),
            (
                "steps",
                Box::new(|j| {
                    j.steps = vec![("a".repeat(MAX_DESCRIPTION_CHARS + 1), String::new())]
                }),
            ),
            (
                "scenario",
                Box::new(|j| j.scenario = "s".repeat(MAX_LONG_TEXT_CHARS + 1)),
            ),
            (
                "estimated_duration_minutes",
                Box::new(|j| j.estimated_duration_minutes = Some(0)),
            ),
            (
                "estimated_duration_minutes",
                Box::new(|j| j.estimated_duration_minutes = Some(-5)),
            ),
            (
                "estimated_duration_minutes",
                Box::new(|j| j.estimated_duration_minutes = Some(i32::MAX)),
            ),
            ("deadline", Box::new(move |j| j.deadline = now)),
            (
                "deadline",
                Box::new(move |j| {
                    j.deadline = DateTime::from_millis(
                        now.timestamp_millis() + (MAX_DEADLINE_DAYS_AHEAD + 1) * 86_400_000,
                    )
                }),
            ),
        ];
        for (expected, change) in cases {
            let mut input = a_job(now);
            change(&mut input);
            assert_eq!(field_of(job(&input, now)), Some(expected));
        }
    }
}
