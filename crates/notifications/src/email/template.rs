//! The e-mail templates: one text and one HTML layout for e-mails with an action link, one pair
//! for notices without one, filled with a message's words. Values are HTML-escaped in the HTML
//! part, and a template naming a value nobody supplies is an error, not an empty gap.

use identity::{OutboxKind, OutboxMessage};

use super::error::EmailError;

const ACTION_TEXT: &str = include_str!("templates/action.txt");
const ACTION_HTML: &str = include_str!("templates/action.html");
const NOTICE_TEXT: &str = include_str!("templates/notice.txt");
const NOTICE_HTML: &str = include_str!("templates/notice.html");

/// Longest subject line kept; a longer title is cut (mail clients show far less).
const MAX_SUBJECT_CHARS: usize = 200;

/// An e-mail ready to send: subject, both parts, and the link it carries (for the log sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Recipient address.
    pub to: String,
    /// Subject line, one line.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
    /// The action link, if the e-mail has one.
    pub link: Option<String>,
}

/// The words one e-mail is made of.
pub(crate) struct Wording<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub greeting: String,
    pub lead: &'a str,
    /// The link and the label of its button.
    pub action: Option<(&'a str, &'a str)>,
    pub closing: &'a str,
}

/// Lays `wording` out in the text and HTML templates.
pub(crate) fn render(wording: Wording<'_>) -> Result<RenderedEmail, EmailError> {
    let subject = one_line(wording.subject, MAX_SUBJECT_CHARS);
    let mut values = vec![
        ("subject", subject.as_str()),
        ("greeting", wording.greeting.as_str()),
        ("lead", wording.lead),
        ("closing", wording.closing),
    ];
    let (text_template, html_template) = match wording.action {
        Some((link, label)) => {
            values.push(("link", link));
            values.push(("action", label));
            (ACTION_TEXT, ACTION_HTML)
        }
        None => (NOTICE_TEXT, NOTICE_HTML),
    };
    Ok(RenderedEmail {
        to: wording.to.to_owned(),
        text: fill(text_template, &values, Escape::None)?,
        html: fill(html_template, &values, Escape::Html)?,
        subject,
        link: wording.action.map(|(link, _)| link.to_owned()),
    })
}

/// The e-mail for one of identity's outbox messages. Identity chose the words (subject, the
/// sentence, the link); the layout is the templates'.
pub(crate) fn outbox_email(message: &OutboxMessage) -> Result<RenderedEmail, EmailError> {
    let (label, closing) = match message.kind {
        OutboxKind::EmailVerification => (
            "Confirm my address",
            "If you did not create an account, ignore this e-mail.",
        ),
        OutboxKind::PasswordReset => (
            "Choose a new password",
            "If you did not ask for this, ignore this e-mail: your password stays as it is. \
             The link works for one hour.",
        ),
        OutboxKind::OrganizationInvitation => (
            "View the invitation",
            "If you did not expect this invitation, ignore this e-mail.",
        ),
        OutboxKind::TwoFactorEnabled | OutboxKind::TwoFactorDisabled => (
            "",
            "If this was not you, reset your password and contact support at once.",
        ),
    };
    render(Wording {
        to: &message.to,
        subject: &message.subject,
        greeting: greeting(message.recipient_name.as_deref()),
        lead: &message.lead,
        action: message.link.as_deref().map(|link| (link, label)),
        closing,
    })
}

/// "Hello Ada," or "Hello," when the name is unknown.
pub(crate) fn greeting(name: Option<&str>) -> String {
    match name.map(|name| one_line(name, 100)) {
        Some(name) if !name.is_empty() => format!("Hello {name},"),
        _ => "Hello,".to_owned(),
    }
}

/// `value` on one line (control characters become spaces, so no header can be smuggled into a
/// subject), at most `max_chars` characters.
pub(crate) fn one_line(value: &str, max_chars: usize) -> String {
    value
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(max_chars)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[derive(Clone, Copy)]
enum Escape {
    None,
    Html,
}

/// Replaces every `{{name}}` in `template` with its value.
fn fill(template: &str, values: &[(&str, &str)], escape: Escape) -> Result<String, EmailError> {
    let mut output = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        output.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| EmailError::Build("a template has an unclosed `{{`".into()))?;
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| EmailError::Build(format!("no value for template field `{name}`")))?;
        match escape {
            Escape::None => output.push_str(value),
            Escape::Html => push_html_escaped(&mut output, value),
        }
        rest = &after[end + 2..];
    }
    output.push_str(rest);
    Ok(output)
}

fn push_html_escaped(output: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '&' => output.push_str("&amp;"),
            '<' => output.push_str("&lt;"),
            '>' => output.push_str("&gt;"),
            '"' => output.push_str("&quot;"),
            '\'' => output.push_str("&#39;"),
            other => output.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wording<'a>(action: Option<(&'a str, &'a str)>) -> Wording<'a> {
        Wording {
            to: "ada@example.com",
            subject: "Reset your password",
            greeting: greeting(Some("Ada <script>")),
            lead: "Open this link to choose a new password:",
            action,
            closing: "Ignore it if it was not you.",
        }
    }

    #[test]
    fn an_action_email_carries_the_link_in_both_parts() {
        let link = "https://app.example.com/reset-password?token=abc&x=1";
        let email = render(wording(Some((link, "Choose a new password")))).expect("renders");
        assert!(email.text.contains(link), "{}", email.text);
        assert!(email.text.starts_with("Hello Ada <script>,\n"));
        assert!(email
            .html
            .contains("href=\"https://app.example.com/reset-password?token=abc&amp;x=1\""));
        assert!(email.html.contains(">Choose a new password</a>"));
        assert!(email.html.contains("Hello Ada &lt;script&gt;,"));
        assert!(!email.html.contains("<script>"));
        assert_eq!(email.link.as_deref(), Some(link));
    }

    #[test]
    fn a_notice_has_no_link_and_no_unfilled_field() {
        let email = render(wording(None)).expect("renders");
        assert_eq!(email.link, None);
        for part in [&email.text, &email.html] {
            assert!(!part.contains("{{"), "{part}");
            assert!(!part.contains("href"), "{part}");
            assert!(part.contains("Ignore it if it was not you."));
        }
    }

    #[test]
    fn a_subject_cannot_carry_a_second_header_line() {
        let mut attack = wording(None);
        attack.subject = "Hi\r\nBcc: victim@example.com";
        let email = render(attack).expect("renders");
        assert_eq!(email.subject, "Hi  Bcc: victim@example.com");
    }

    #[test]
    fn a_template_field_without_a_value_is_an_error() {
        let error = fill("Hello {{name}}", &[], Escape::None).expect_err("missing value");
        assert!(error.to_string().contains("`name`"), "{error}");
        let unclosed = fill("Hello {{name", &[("name", "x")], Escape::None);
        assert!(
            matches!(unclosed, Err(EmailError::Build(_))),
            "{unclosed:?}"
        );
    }
}
