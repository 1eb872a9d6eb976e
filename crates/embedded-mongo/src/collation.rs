//! Collation: the documented subset product code uses — `locale: "en"` (and `"simple"`, binary
//! comparison), `strength` 1 to 3, `numericOrdering` — by collation keys. A string becomes a key
//! whose binary order is the collation's order and whose equality is the collation's equality,
//! so the ordinary matcher and sort run unchanged over keyed copies of the documents.
//!
//! The key follows the Unicode collation algorithm's levels: primary (base letters, caseless and
//! without accents; punctuation and symbols, then digits, then letters), secondary (accents,
//! after canonical decomposition) and tertiary (case, lower before upper), each level compared
//! only when the ones before are equal. Within punctuation and symbols, and among letters of
//! different scripts, the order is the code points' (ICU's root order differs there). Every
//! other locale and option (`caseLevel`, `caseFirst`, `alternate: "shifted"`, `backwards`,
//! `normalization`, strength 4 and 5) is refused with 238 `NotImplemented`, never ignored.

use bson::{Bson, Document};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::error::{codes, CommandError, CommandResult};

/// Separates the levels of a key; below every weight.
const LEVEL_SEPARATOR: char = '\u{1}';
/// The secondary and tertiary weight of "nothing special" (no accent, lower case).
const COMMON: char = '\u{2}';
/// The tertiary weight of an upper-case letter.
const UPPER: char = '\u{3}';
/// Primary weight bases: punctuation and symbols, then digits, then letters.
const SYMBOLS: u32 = 0x1_0000;
const DIGITS: u32 = 0x5_0000;
const LETTERS: u32 = 0x6_0000;
/// The longest digit run `numericOrdering` compares by value; longer runs compare as if this long.
const MAX_NUMBER_DIGITS: u32 = 0xFF;

/// A collation other than the simple (binary) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collation {
    /// 1 (base letters), 2 (and accents) or 3 (and case).
    pub strength: u8,
    /// Digit runs compare by their numeric value.
    pub numeric_ordering: bool,
}

fn not_implemented(what: String) -> CommandError {
    CommandError::new(
        codes::NOT_IMPLEMENTED,
        format!("{what} is not implemented; this store implements collation with locale \"en\" (strength 1-3, numericOrdering) and \"simple\""),
    )
}

impl Collation {
    /// Parses a command's `collation`: `None` for `{locale: "simple"}`.
    pub fn parse(value: &Bson) -> CommandResult<Option<Collation>> {
        let Bson::Document(spec) = value else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'collation' is the wrong type '{}', expected type 'object'",
                crate::commands::type_name(value)
            )));
        };
        let locale = match spec.get("locale") {
            Some(Bson::String(locale)) => locale.as_str(),
            Some(other) => {
                return Err(CommandError::type_mismatch(format!(
                    "BSON field 'collation.locale' is the wrong type '{}', expected type 'string'",
                    crate::commands::type_name(other)
                )))
            }
            None => {
                return Err(CommandError::new(
                    40414,
                    "BSON field 'collation.locale' is missing but a required field",
                ))
            }
        };
        if locale == "simple" {
            if spec.len() > 1 {
                return Err(CommandError::bad_value(
                    "A collation with locale \"simple\" takes no other field",
                ));
            }
            return Ok(None);
        }
        if !matches!(locale, "en" | "en_US") {
            return Err(not_implemented(format!("collation locale {locale:?}")));
        }
        let mut collation = Collation {
            strength: 3,
            numeric_ordering: false,
        };
        for (key, value) in spec.iter().filter(|(key, _)| key.as_str() != "locale") {
            match (key.as_str(), value) {
                ("strength", value) => {
                    let strength =
                        crate::commands::whole_number("collation", "strength", Some(value))?
                            .unwrap_or(3);
                    match strength {
                        1..=3 => collation.strength = strength as u8,
                        4 | 5 => {
                            return Err(not_implemented(format!("collation strength {strength}")))
                        }
                        _ => {
                            return Err(CommandError::bad_value(format!(
                                "collation strength must be an integer 1 through 5, not {strength}"
                            )))
                        }
                    }
                }
                ("numericOrdering", Bson::Boolean(numeric)) => {
                    collation.numeric_ordering = *numeric
                }
                ("caseLevel" | "normalization" | "backwards", Bson::Boolean(false)) => {}
                ("caseLevel" | "normalization" | "backwards", Bson::Boolean(true)) => {
                    return Err(not_implemented(format!("collation {key}: true")))
                }
                ("caseFirst", Bson::String(first)) if first == "off" => {}
                ("caseFirst", Bson::String(first)) if first == "upper" || first == "lower" => {
                    return Err(not_implemented(format!("collation caseFirst {first:?}")))
                }
                ("alternate", Bson::String(alternate)) if alternate == "non-ignorable" => {}
                ("alternate", Bson::String(alternate)) if alternate == "shifted" => {
                    return Err(not_implemented("collation alternate \"shifted\"".into()))
                }
                ("maxVariable", Bson::String(variable)) if variable == "punct" => {}
                ("maxVariable", Bson::String(variable)) if variable == "space" => {
                    return Err(not_implemented("collation maxVariable \"space\"".into()))
                }
                (
                    "numericOrdering" | "caseLevel" | "normalization" | "backwards" | "caseFirst"
                    | "alternate" | "maxVariable",
                    other,
                ) => {
                    return Err(CommandError::bad_value(format!(
                        "collation {key} cannot be {other}"
                    )))
                }
                (other, _) => {
                    return Err(CommandError::new(
                        codes::UNKNOWN_FIELD,
                        format!("BSON field 'collation.{other}' is an unknown field."),
                    ))
                }
            }
        }
        Ok(Some(collation))
    }

    /// The collation key of `text`.
    pub fn key(&self, text: &str) -> String {
        let mut primary = String::with_capacity(text.len());
        let mut secondary = String::new();
        let mut tertiary = String::new();
        let decomposed: Vec<char> = text.nfd().collect();
        let mut index = 0;
        while index < decomposed.len() {
            let character = decomposed[index];
            index += 1;
            if is_combining_mark(character) {
                // A mark with no base before it weighs as a symbol of its own.
                if primary.is_empty() {
                    push_weight(&mut primary, SYMBOLS + character as u32);
                    secondary.push(COMMON);
                    tertiary.push(COMMON);
                }
                continue;
            }
            if character.is_ascii_digit() && self.numeric_ordering {
                let start = index - 1;
                while index < decomposed.len() && decomposed[index].is_ascii_digit() {
                    index += 1;
                }
                let digits: Vec<char> = decomposed[start..index]
                    .iter()
                    .copied()
                    .skip_while(|digit| *digit == '0')
                    .collect();
                let digits = if digits.is_empty() { vec!['0'] } else { digits };
                push_weight(
                    &mut primary,
                    DIGITS + 0x10 + (digits.len() as u32).min(MAX_NUMBER_DIGITS),
                );
                secondary.push(COMMON);
                tertiary.push(COMMON);
                for digit in digits {
                    push_weight(&mut primary, DIGITS + (digit as u32 - '0' as u32));
                    secondary.push(COMMON);
                    tertiary.push(COMMON);
                }
                continue;
            }
            let weight = if character.is_ascii_digit() {
                DIGITS + (character as u32 - '0' as u32)
            } else if character.is_alphabetic() {
                let lower = character.to_lowercase().next().unwrap_or(character);
                LETTERS + (lower as u32).min(0xA_FFFF)
            } else {
                SYMBOLS + (character as u32).min(0x3_FFFF)
            };
            push_weight(&mut primary, weight);
            // The accents that follow this base, in order, are its secondary weight.
            let marks_start = index;
            while index < decomposed.len() && is_combining_mark(decomposed[index]) {
                index += 1;
            }
            if marks_start == index {
                secondary.push(COMMON);
            } else {
                for mark in &decomposed[marks_start..index] {
                    push_weight(&mut secondary, 0x10 + *mark as u32);
                }
            }
            tertiary.push(if character.is_uppercase() {
                UPPER
            } else {
                COMMON
            });
        }
        if self.strength >= 2 {
            primary.push(LEVEL_SEPARATOR);
            primary.push_str(&secondary);
        }
        if self.strength >= 3 {
            primary.push(LEVEL_SEPARATOR);
            primary.push_str(&tertiary);
        }
        primary
    }

    /// `value` with every string (in arrays and subdocuments too) replaced by its key.
    pub fn keyed_value(&self, value: &Bson) -> Bson {
        match value {
            Bson::String(text) => Bson::String(self.key(text)),
            Bson::Array(items) => {
                Bson::Array(items.iter().map(|item| self.keyed_value(item)).collect())
            }
            Bson::Document(document) => Bson::Document(self.keyed_document(document)),
            other => other.clone(),
        }
    }

    /// `document` with every string value replaced by its key; field names stay.
    pub fn keyed_document(&self, document: &Document) -> Document {
        document
            .iter()
            .map(|(key, value)| (key.clone(), self.keyed_value(value)))
            .collect()
    }

    /// `filter` with the strings it compares against replaced by keys, to run over keyed
    /// documents. Operators whose strings are not compared by collation (`$regex`, `$text`,
    /// `$expr`, `$where`, `$jsonSchema`) are refused with this collation rather than answered
    /// wrongly.
    pub fn keyed_filter(&self, filter: &Document) -> CommandResult<Document> {
        let mut keyed = Document::new();
        for (key, value) in filter {
            let value = match key.as_str() {
                "$and" | "$or" | "$nor" => match value {
                    Bson::Array(clauses) => Bson::Array(
                        clauses
                            .iter()
                            .map(|clause| match clause {
                                Bson::Document(clause) => {
                                    self.keyed_filter(clause).map(Bson::Document)
                                }
                                other => Ok(other.clone()),
                            })
                            .collect::<CommandResult<Vec<_>>>()?,
                    ),
                    other => other.clone(),
                },
                "$comment" => value.clone(),
                operator @ ("$expr" | "$where" | "$text" | "$jsonSchema") => {
                    return Err(not_implemented(format!("{operator} with a collation")))
                }
                _ if key.starts_with('$') => value.clone(),
                _ => self.keyed_condition(value)?,
            };
            keyed.insert(key.clone(), value);
        }
        Ok(keyed)
    }

    /// One field's condition: an operator document or a value to equal.
    fn keyed_condition(&self, condition: &Bson) -> CommandResult<Bson> {
        match condition {
            Bson::Document(operators)
                if operators
                    .keys()
                    .next()
                    .is_some_and(|key| key.starts_with('$')) =>
            {
                let mut keyed = Document::new();
                for (operator, operand) in operators {
                    let operand = match operator.as_str() {
                        "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$in" | "$nin"
                        | "$all" => self.keyed_operand(operand)?,
                        "$elemMatch" => match operand {
                            Bson::Document(inner)
                                if inner.keys().next().is_some_and(|key| key.starts_with('$'))
                                    && !inner.keys().any(|key| {
                                        matches!(key.as_str(), "$and" | "$or" | "$nor")
                                    }) =>
                            {
                                self.keyed_condition(operand)?
                            }
                            Bson::Document(inner) => Bson::Document(self.keyed_filter(inner)?),
                            other => other.clone(),
                        },
                        "$not" => self.keyed_condition(operand)?,
                        "$regex" | "$options" => {
                            return Err(not_implemented("$regex with a collation".into()))
                        }
                        _ => operand.clone(),
                    };
                    keyed.insert(operator.clone(), operand);
                }
                Ok(Bson::Document(keyed))
            }
            other => self.keyed_operand(other),
        }
    }

    fn keyed_operand(&self, operand: &Bson) -> CommandResult<Bson> {
        if contains_regex(operand) {
            return Err(not_implemented(
                "a regular expression with a collation".into(),
            ));
        }
        Ok(self.keyed_value(operand))
    }
}

fn contains_regex(value: &Bson) -> bool {
    match value {
        Bson::RegularExpression(_) => true,
        Bson::Array(items) => items.iter().any(contains_regex),
        _ => false,
    }
}

fn push_weight(key: &mut String, weight: u32) {
    key.push(char::from_u32(weight).unwrap_or(char::REPLACEMENT_CHARACTER));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn collation(spec: Document) -> Collation {
        Collation::parse(&Bson::Document(spec))
            .unwrap()
            .expect("not simple")
    }

    fn sorted(collation: &Collation, words: &[&str]) -> Vec<String> {
        let mut words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        words.sort_by_key(|word| collation.key(word));
        words
    }

    #[test]
    fn strength_one_ignores_case_and_accents_two_only_case_three_neither() {
        let primary = collation(doc! { "locale": "en", "strength": 1 });
        let secondary = collation(doc! { "locale": "en", "strength": 2 });
        let tertiary = collation(doc! { "locale": "en" });
        assert_eq!(primary.key("Café"), primary.key("cafe"));
        assert_ne!(secondary.key("Café"), secondary.key("cafe"));
        assert_eq!(secondary.key("CAFÉ"), secondary.key("café"));
        assert_ne!(tertiary.key("Cafe"), tertiary.key("cafe"));
        // Precomposed and decomposed accents are the same text.
        assert_eq!(tertiary.key("caf\u{e9}"), tertiary.key("cafe\u{301}"));
    }

    #[test]
    fn english_order_puts_base_letters_first_then_accents_then_case() {
        let tertiary = collation(doc! { "locale": "en" });
        assert_eq!(
            sorted(&tertiary, &["b", "B", "á", "A", "a", "_x", "1"]),
            ["_x", "1", "a", "A", "á", "b", "B"]
        );
        assert_eq!(
            sorted(&tertiary, &["côte", "cote", "coté", "Cote"]),
            ["cote", "Cote", "coté", "côte"]
        );
    }

    #[test]
    fn numeric_ordering_compares_digit_runs_by_value() {
        let numeric = collation(doc! { "locale": "en", "numericOrdering": true });
        assert_eq!(
            sorted(&numeric, &["item10", "item9", "item100", "item1"]),
            ["item1", "item9", "item10", "item100"]
        );
        // Leading zeros do not count, as in ICU.
        assert_eq!(numeric.key("item009"), numeric.key("item9"));
        let plain = collation(doc! { "locale": "en" });
        assert_eq!(sorted(&plain, &["10", "9", "100"]), ["10", "100", "9"]);
    }

    #[test]
    fn the_simple_locale_is_binary_and_unimplemented_options_are_refused_with_238() {
        assert_eq!(
            Collation::parse(&Bson::Document(doc! { "locale": "simple" })).unwrap(),
            None
        );
        for (spec, code) in [
            (doc! { "locale": "fr" }, 238),
            (doc! { "locale": "en", "strength": 4 }, 238),
            (doc! { "locale": "en", "caseFirst": "upper" }, 238),
            (doc! { "locale": "en", "alternate": "shifted" }, 238),
            (doc! { "locale": "en", "backwards": true }, 238),
            (doc! { "locale": "en", "strength": 9 }, 2),
            (doc! { "locale": "en", "caseFirst": "sideways" }, 2),
            (doc! { "locale": "en", "colour": 1 }, 40415),
            (doc! { "strength": 1 }, 40414),
            (doc! { "locale": "simple", "strength": 1 }, 2),
        ] {
            let error = Collation::parse(&Bson::Document(spec.clone())).expect_err("refused");
            assert_eq!(error.code, code, "{spec}");
        }
    }

    #[test]
    fn a_filter_keys_the_values_it_compares_and_refuses_what_collation_cannot_answer() {
        let secondary = collation(doc! { "locale": "en", "strength": 2 });
        let keyed = secondary
            .keyed_filter(
                &doc! { "name": "ADA", "tags": { "$in": ["X"] }, "n": { "$size": 2 },
                "$or": [ { "city": { "$gte": "B" } } ] },
            )
            .unwrap();
        assert_eq!(keyed.get_str("name").unwrap(), secondary.key("ada"));
        assert_eq!(
            keyed
                .get_document("tags")
                .unwrap()
                .get_array("$in")
                .unwrap()[0],
            Bson::String(secondary.key("x"))
        );
        assert_eq!(keyed.get_document("n").unwrap(), &doc! { "$size": 2 });
        for refused in [
            doc! { "name": { "$regex": "^a" } },
            doc! { "name": { "$in": [ Bson::RegularExpression(bson::Regex { pattern: "a".into(), options: String::new() }) ] } },
            doc! { "$expr": { "$eq": ["$a", "b"] } },
        ] {
            assert_eq!(
                secondary.keyed_filter(&refused).unwrap_err().code,
                238,
                "{refused}"
            );
        }
    }
}
