//! Date operators: parts (`$year` ... `$isoWeekYear`), `$dateToString`, `$dateFromString`,
//! `$dateAdd`, `$dateSubtract`, `$dateDiff` and `$dateTrunc`.
//!
//! Dates are milliseconds since the Unix epoch in UTC. Time zones are UTC or fixed offsets
//! (`"+05:30"`, `"-0800"`, `"+03"`); Olson names other than UTC/GMT are not known here and are
//! rejected with MongoDB's "unrecognized time zone identifier" error.

use bson::Bson;

use super::conversion::{display_value, timestamp_seconds};
use super::numeric::{integral, Number};
use super::{error, type_name};
use crate::error::{CommandError, CommandResult};

const MILLIS_PER_DAY: i64 = 86_400_000;
const CONVERSION_FAILURE: i32 = 241;

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// The broken-down local time of an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DateParts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
    /// Days since the epoch of the local date.
    pub days: i64,
    /// 1 (Sunday) to 7 (Saturday), as `$dayOfWeek` reports.
    pub day_of_week: u32,
    /// 1 to 366.
    pub day_of_year: u32,
}

impl DateParts {
    /// The parts of `millis` shifted by `offset_minutes`.
    pub(crate) fn from_millis(millis: i64, offset_minutes: i64) -> DateParts {
        let local = millis.saturating_add(offset_minutes * 60_000);
        let days = local.div_euclid(MILLIS_PER_DAY);
        let within = local.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        DateParts {
            year,
            month,
            day,
            hour: (within / 3_600_000) as u32,
            minute: (within / 60_000 % 60) as u32,
            second: (within / 1000 % 60) as u32,
            millisecond: (within % 1000) as u32,
            days,
            // 1970-01-01 was a Thursday (5 in 1..=7 counting from Sunday).
            day_of_week: ((days + 4).rem_euclid(7) + 1) as u32,
            day_of_year: (days - days_from_civil(year, 1, 1) + 1) as u32,
        }
    }

    /// ISO 8601 day of week: 1 (Monday) to 7 (Sunday).
    fn iso_day_of_week(&self) -> u32 {
        (self.day_of_week + 5) % 7 + 1
    }

    /// Week of the year where weeks start on Sunday and days before the first Sunday are week 0.
    fn week(&self) -> u32 {
        (self.day_of_year + 6 - (self.day_of_week - 1)) / 7
    }

    /// ISO 8601 week-numbering year and week.
    fn iso_week(&self) -> (i64, u32) {
        // The Thursday of this ISO week decides its year.
        let thursday = self.days - i64::from(self.iso_day_of_week()) + 4;
        let (year, _, _) = civil_from_days(thursday);
        let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
        (year, week as u32)
    }
}

/// A date as MongoDB prints it in strings: `2024-01-31T12:00:00.000Z`.
pub(crate) fn iso_string(millis: i64) -> String {
    let parts = DateParts::from_millis(millis, 0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        parts.year,
        parts.month,
        parts.day,
        parts.hour,
        parts.minute,
        parts.second,
        parts.millisecond
    )
}

/// The offset in minutes of a `timezone` argument.
fn parse_timezone(value: &Option<Option<Bson>>) -> CommandResult<Option<i64>> {
    let text = match value {
        None => return Ok(Some(0)),
        Some(None) | Some(Some(Bson::Null)) | Some(Some(Bson::Undefined)) => return Ok(None),
        Some(Some(Bson::String(text))) => text.clone(),
        Some(Some(other)) => {
            return Err(error(
                40517,
                format!(
                    "timezone must evaluate to a string, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    offset_minutes(&text).map(Some).ok_or_else(|| {
        error(
            40485,
            format!("unrecognized time zone identifier: \"{text}\""),
        )
    })
}

fn offset_minutes(text: &str) -> Option<i64> {
    match text {
        "UTC" | "GMT" | "Z" | "Etc/UTC" | "Etc/GMT" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if rest.contains(':') && rest.len() != 5 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// The instant a date-like value denotes, for the date operators.
fn date_millis(op: &str, value: &Bson) -> CommandResult<i64> {
    match value {
        Bson::DateTime(moment) => Ok(moment.timestamp_millis()),
        Bson::Timestamp(stamp) => Ok(i64::from(stamp.time) * 1000),
        Bson::ObjectId(id) => Ok(i64::from(timestamp_seconds(id)) * 1000),
        other => {
            let _ = op;
            Err(error(
                16006,
                format!("can't convert from BSON type {} to Date", type_name(other)),
            ))
        }
    }
}

fn is_nullish(value: &Option<Bson>) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

/// Evaluates the date operators (all take named arguments).
pub(super) fn evaluate_named(
    op: &str,
    args: Vec<Option<Option<Bson>>>,
) -> CommandResult<Option<Bson>> {
    match op {
        "$dateToString" => date_to_string(args),
        "$dateFromString" => date_from_string(args),
        "$dateAdd" | "$dateSubtract" => date_add(op, args),
        "$dateDiff" => date_diff(args),
        "$dateTrunc" => date_trunc(args),
        _ => {
            let date = args[0].clone().flatten();
            let Some(offset) = parse_timezone(&args[1])? else {
                return Ok(Some(Bson::Null));
            };
            let Some(date) = date.filter(|value| !matches!(value, Bson::Null | Bson::Undefined))
            else {
                return Ok(Some(Bson::Null));
            };
            let parts = DateParts::from_millis(date_millis(op, &date)?, offset);
            let value = match op {
                "$year" => return Ok(Some(Bson::Int32(parts.year as i32))),
                "$month" => parts.month,
                "$dayOfMonth" => parts.day,
                "$hour" => parts.hour,
                "$minute" => parts.minute,
                "$second" => parts.second,
                "$millisecond" => parts.millisecond,
                "$dayOfWeek" => parts.day_of_week,
                "$dayOfYear" => parts.day_of_year,
                "$week" => parts.week(),
                "$isoWeek" => parts.iso_week().1,
                "$isoWeekYear" => return Ok(Some(Bson::Int64(parts.iso_week().0))),
                "$isoDayOfWeek" => parts.iso_day_of_week(),
                _ => return Err(super::unknown_operator(op)),
            };
            Ok(Some(Bson::Int32(value as i32)))
        }
    }
}

const DEFAULT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%LZ";

fn date_to_string(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let format = match args[1].clone() {
        None => None,
        Some(None) | Some(Some(Bson::Null)) => return Ok(Some(Bson::Null)),
        Some(Some(Bson::String(format))) => Some(format),
        Some(Some(other)) => {
            return Err(error(
                18533,
                format!(
                    "$dateToString requires that 'format' be a string, found: {} with value {}",
                    type_name(&other),
                    display_value(&other)
                ),
            ))
        }
    };
    if let Some(format) = &format {
        validate_format(format)?;
    }
    let Some(offset) = parse_timezone(&args[2])? else {
        return Ok(Some(Bson::Null));
    };
    let date = args[0].clone().flatten();
    if is_nullish(&date) {
        return Ok(match args[3].clone() {
            Some(on_null) => on_null,
            None => Some(Bson::Null),
        });
    }
    let Some(date) = date else {
        return Ok(Some(Bson::Null));
    };
    let millis = date_millis("$dateToString", &date)?;
    let format = format.unwrap_or_else(|| {
        if args[2].is_some() && offset != 0 {
            "%Y-%m-%dT%H:%M:%S.%L".to_string()
        } else {
            DEFAULT_FORMAT.to_string()
        }
    });
    Ok(Some(Bson::String(format_date(millis, offset, &format))))
}

fn validate_format(format: &str) -> CommandResult<()> {
    let mut characters = format.chars();
    while let Some(c) = characters.next() {
        if c != '%' {
            continue;
        }
        match characters.next() {
            None => return Err(error(18535, "Unmatched '%' at end of format string")),
            Some(
                'd' | 'G' | 'H' | 'j' | 'L' | 'm' | 'M' | 'S' | 'w' | 'u' | 'U' | 'V' | 'Y' | 'z'
                | 'Z' | '%' | 'b' | 'B',
            ) => {}
            Some(other) => {
                return Err(error(
                    18536,
                    format!("Invalid format character '%{other}' in format string"),
                ))
            }
        }
    }
    Ok(())
}

/// Renders `millis` in the zone `offset` with a validated `$dateToString` format.
pub(crate) fn format_date(millis: i64, offset: i64, format: &str) -> String {
    let parts = DateParts::from_millis(millis, offset);
    let mut output = String::new();
    let mut characters = format.chars();
    while let Some(c) = characters.next() {
        if c != '%' {
            output.push(c);
            continue;
        }
        let Some(specifier) = characters.next() else {
            break;
        };
        let text = match specifier {
            'd' => format!("{:02}", parts.day),
            'G' => format!("{:04}", parts.iso_week().0),
            'H' => format!("{:02}", parts.hour),
            'j' => format!("{:03}", parts.day_of_year),
            'L' => format!("{:03}", parts.millisecond),
            'm' => format!("{:02}", parts.month),
            'M' => format!("{:02}", parts.minute),
            'S' => format!("{:02}", parts.second),
            'w' => parts.day_of_week.to_string(),
            'u' => parts.iso_day_of_week().to_string(),
            'U' => format!("{:02}", parts.week()),
            'V' => format!("{:02}", parts.iso_week().1),
            'Y' => format!("{:04}", parts.year),
            'z' => format!(
                "{}{:02}{:02}",
                if offset < 0 { '-' } else { '+' },
                offset.abs() / 60,
                offset.abs() % 60
            ),
            'Z' => format!("{}{}", if offset < 0 { '-' } else { '+' }, offset.abs()),
            'b' => MONTH_NAMES[(parts.month - 1) as usize][..3].to_string(),
            'B' => MONTH_NAMES[(parts.month - 1) as usize].to_string(),
            other => other.to_string(),
        };
        output.push_str(&text);
    }
    output
}

fn date_from_string(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let on_error = args[3].clone();
    let on_null = args[4].clone();
    let format = match args[1].clone() {
        None => None,
        Some(None) | Some(Some(Bson::Null)) => return Ok(Some(Bson::Null)),
        Some(Some(Bson::String(format))) => {
            validate_format(&format)?;
            Some(format)
        }
        Some(Some(other)) => {
            return Err(error(
                40684,
                format!(
                    "$dateFromString requires that 'format' be a string, found: {} with value {}",
                    type_name(&other),
                    display_value(&other)
                ),
            ))
        }
    };
    let Some(offset) = parse_timezone(&args[2])? else {
        return Ok(Some(Bson::Null));
    };
    let text = match args[0].clone().flatten() {
        None | Some(Bson::Null) | Some(Bson::Undefined) => {
            return Ok(on_null.unwrap_or(Some(Bson::Null)))
        }
        Some(Bson::String(text)) => text,
        Some(other) => {
            let failure = error(
                CONVERSION_FAILURE,
                format!(
                    "$dateFromString requires that 'dateString' be a string, found: {} with value {}",
                    type_name(&other),
                    display_value(&other)
                ),
            );
            return match on_error {
                Some(fallback) => Ok(fallback),
                None => Err(failure),
            };
        }
    };
    let zone = args[2].as_ref().map(|_| offset);
    match parse_date_string(&text, format.as_deref(), zone) {
        Ok(millis) => Ok(Some(Bson::DateTime(bson::DateTime::from_millis(millis)))),
        Err(failure) => match on_error {
            Some(fallback) => Ok(fallback),
            None => Err(failure),
        },
    }
}

/// Parses a date string, with a `$dateFromString` format or, without one, the ISO 8601 forms
/// (`2017-02-08`, `2017-02-08T12:10:40.787Z`, `2017-02-08 12:10:40+05:00`, ...). `zone` is the
/// offset to assume when the string carries none.
pub(crate) fn parse_date_string(
    text: &str,
    format: Option<&str>,
    zone: Option<i64>,
) -> CommandResult<i64> {
    let failure = |reason: &str| -> CommandError {
        error(
            CONVERSION_FAILURE,
            format!("Error parsing date string '{text}'; {reason}"),
        )
    };
    let mut fields = ParsedFields::default();
    match format {
        Some(format) => parse_with_format(text, format, &mut fields).map_err(|r| failure(&r))?,
        None => parse_iso(text, &mut fields).map_err(|r| failure(&r))?,
    }
    let (year, month, day) = match (fields.iso_year, fields.iso_week) {
        (Some(iso_year), Some(iso_week)) => {
            let january_fourth = days_from_civil(iso_year, 1, 4);
            let monday = january_fourth - (january_fourth + 3).rem_euclid(7);
            let days = monday
                + i64::from(iso_week.saturating_sub(1)) * 7
                + i64::from(fields.iso_day_of_week.unwrap_or(1).saturating_sub(1));
            civil_from_days(days)
        }
        _ => {
            let year = fields.year.ok_or_else(|| failure("missing year"))?;
            match fields.day_of_year {
                Some(day_of_year) => civil_from_days(
                    days_from_civil(year, 1, 1) + i64::from(day_of_year.saturating_sub(1)),
                ),
                None => (year, fields.month.unwrap_or(1), fields.day.unwrap_or(1)),
            }
        }
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(failure("invalid date"));
    }
    if fields.hour > 24 || fields.minute > 59 || fields.second > 60 {
        return Err(failure("invalid time"));
    }
    let offset = fields.offset.or(zone).unwrap_or(0);
    let days = days_from_civil(year, month, day);
    let local = days * MILLIS_PER_DAY
        + i64::from(fields.hour) * 3_600_000
        + i64::from(fields.minute) * 60_000
        + i64::from(fields.second) * 1000
        + i64::from(fields.millisecond);
    Ok(local - offset * 60_000)
}

#[derive(Default)]
struct ParsedFields {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    iso_year: Option<i64>,
    iso_week: Option<u32>,
    iso_day_of_week: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    millisecond: u32,
    offset: Option<i64>,
}

/// A cursor over the characters of a date string.
struct Scanner<'a> {
    rest: &'a str,
}

impl Scanner<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Result<u32, String> {
        let count = self
            .rest
            .chars()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if count < min {
            return Err("expected digits".to_string());
        }
        let (number, rest) = self.rest.split_at(count);
        self.rest = rest;
        number.parse::<u32>().map_err(|_| "bad number".to_string())
    }

    fn literal(&mut self, expected: char) -> Result<(), String> {
        match self.rest.strip_prefix(expected) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(format!("expected '{expected}'")),
        }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    /// `Z`, `+hh`, `+hhmm`, `+hh:mm` or `UTC`/`GMT`.
    fn offset(&mut self) -> Result<i64, String> {
        for name in ["UTC", "GMT", "Z"] {
            if let Some(rest) = self.rest.strip_prefix(name) {
                self.rest = rest;
                return Ok(0);
            }
        }
        let sign = match self.peek() {
            Some('+') => 1,
            Some('-') => -1,
            _ => return Err("expected a time zone offset".to_string()),
        };
        self.rest = &self.rest[1..];
        let hours = i64::from(self.digits(2, 2)?);
        if self.peek() == Some(':') {
            self.rest = &self.rest[1..];
        }
        let minutes = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            i64::from(self.digits(2, 2)?)
        } else {
            0
        };
        Ok(sign * (hours * 60 + minutes))
    }
}

fn parse_iso(text: &str, fields: &mut ParsedFields) -> Result<(), String> {
    let mut scanner = Scanner { rest: text.trim() };
    fields.year = Some(i64::from(scanner.digits(4, 4)?));
    let separator = match scanner.peek() {
        Some('/') => '/',
        _ => '-',
    };
    scanner.literal(separator)?;
    fields.month = Some(scanner.digits(1, 2)?);
    scanner.literal(separator)?;
    fields.day = Some(scanner.digits(1, 2)?);
    if matches!(scanner.peek(), Some('T') | Some(' ')) {
        scanner.rest = &scanner.rest[1..];
        fields.hour = scanner.digits(2, 2)?;
        scanner.literal(':')?;
        fields.minute = scanner.digits(2, 2)?;
        if scanner.peek() == Some(':') {
            scanner.rest = &scanner.rest[1..];
            fields.second = scanner.digits(2, 2)?;
            if scanner.peek() == Some('.') {
                scanner.rest = &scanner.rest[1..];
                let before = scanner.rest.len();
                let fraction = scanner.digits(1, 9)?;
                let length = before - scanner.rest.len();
                let scaled = f64::from(fraction) / 10_f64.powi(length as i32 - 3);
                fields.millisecond = scaled.trunc() as u32;
            }
        }
        let trimmed = scanner.rest.trim_start();
        scanner.rest = trimmed;
        if !scanner.rest.is_empty() {
            fields.offset = Some(scanner.offset()?);
        }
    }
    if !scanner.rest.is_empty() {
        return Err(format!("trailing data: '{}'", scanner.rest));
    }
    Ok(())
}

fn parse_with_format(text: &str, format: &str, fields: &mut ParsedFields) -> Result<(), String> {
    let mut scanner = Scanner { rest: text };
    let mut characters = format.chars();
    while let Some(c) = characters.next() {
        if c != '%' {
            scanner.literal(c)?;
            continue;
        }
        match characters.next() {
            Some('Y') => fields.year = Some(i64::from(scanner.digits(4, 4)?)),
            Some('m') => fields.month = Some(scanner.digits(1, 2)?),
            Some('d') => fields.day = Some(scanner.digits(1, 2)?),
            Some('H') => fields.hour = scanner.digits(1, 2)?,
            Some('M') => fields.minute = scanner.digits(1, 2)?,
            Some('S') => fields.second = scanner.digits(1, 2)?,
            Some('L') => fields.millisecond = scanner.digits(1, 3)?,
            Some('j') => fields.day_of_year = Some(scanner.digits(1, 3)?),
            Some('G') => fields.iso_year = Some(i64::from(scanner.digits(4, 4)?)),
            Some('V') => fields.iso_week = Some(scanner.digits(1, 2)?),
            Some('u') => fields.iso_day_of_week = Some(scanner.digits(1, 1)?),
            Some('z') | Some('Z') => fields.offset = Some(scanner.offset()?),
            Some('%') => scanner.literal('%')?,
            Some(other) => return Err(format!("unsupported format character '%{other}'")),
            None => return Err("unmatched '%'".to_string()),
        }
    }
    if !scanner.rest.is_empty() {
        return Err(format!("trailing data: '{}'", scanner.rest));
    }
    Ok(())
}

const UNITS: &[&str] = &[
    "year",
    "quarter",
    "month",
    "week",
    "day",
    "hour",
    "minute",
    "second",
    "millisecond",
];

fn parse_unit(op: &str, value: &Option<Option<Bson>>) -> CommandResult<Option<&'static str>> {
    match value.clone().flatten() {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(None),
        Some(Bson::String(unit)) => UNITS
            .iter()
            .find(|candidate| **candidate == unit)
            .map(|unit| Some(*unit))
            .ok_or_else(|| {
                error(
                    crate::error::codes::FAILED_TO_PARSE,
                    format!("{op} parameter 'unit' value parsing failed :: caused by :: unknown time unit value: {unit}"),
                )
            }),
        Some(other) => Err(error(
            5439013,
            format!(
                "{op} requires 'unit' to be a string, but got {}",
                type_name(&other)
            ),
        )),
    }
}

/// Adds `months` calendar months to a local instant, clamping the day to the month's end;
/// `None` when the result is outside the representable range.
fn add_months(local: i64, months: i64) -> Option<i64> {
    let days = local.div_euclid(MILLIS_PER_DAY);
    let within = local.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let total = year
        .checked_mul(12)?
        .checked_add(i64::from(month) - 1)?
        .checked_add(months)?;
    let new_year = total.div_euclid(12);
    if new_year.abs() > 300_000_000 {
        return None;
    }
    let new_month = (total.rem_euclid(12) + 1) as u32;
    let new_day = day.min(days_in_month(new_year, new_month));
    days_from_civil(new_year, new_month, new_day)
        .checked_mul(MILLIS_PER_DAY)?
        .checked_add(within)
}

fn unit_millis(unit: &str) -> i64 {
    match unit {
        "week" => 7 * MILLIS_PER_DAY,
        "day" => MILLIS_PER_DAY,
        "hour" => 3_600_000,
        "minute" => 60_000,
        "second" => 1000,
        _ => 1,
    }
}

fn date_add(op: &str, args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let start = args[0].clone().flatten();
    let unit = parse_unit(op, &args[1])?;
    let amount = args[2].clone().flatten();
    let Some(offset) = parse_timezone(&args[3])? else {
        return Ok(Some(Bson::Null));
    };
    let (Some(start), Some(unit), Some(amount)) = (
        start.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)),
        unit,
        amount.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)),
    ) else {
        return Ok(Some(Bson::Null));
    };
    let start = match &start {
        Bson::DateTime(_) | Bson::Timestamp(_) | Bson::ObjectId(_) => date_millis(op, &start)?,
        other => {
            return Err(error(
                5166403,
                format!(
                    "{op} requires startDate to be convertible to a date, but got {}",
                    type_name(other)
                ),
            ))
        }
    };
    let Some(mut amount) = integral(&amount).filter(|_| Number::from_bson(&amount).is_some())
    else {
        return Err(error(
            5166405,
            format!(
                "{op} expects integer amount of time units, but got {}",
                display_value(&amount)
            ),
        ));
    };
    if op == "$dateSubtract" {
        amount = amount.saturating_neg();
    }
    let result = match unit {
        "year" | "quarter" | "month" => {
            let months = match unit {
                "year" => amount.saturating_mul(12),
                "quarter" => amount.saturating_mul(3),
                _ => amount,
            };
            let local = start.saturating_add(offset * 60_000);
            add_months(local, months)
                .ok_or_else(|| error(5166406, format!("{op} overflowed")))?
                .saturating_sub(offset * 60_000)
        }
        other => start.saturating_add(amount.saturating_mul(unit_millis(other))),
    };
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(result))))
}

const WEEKDAYS: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The index (0 = Sunday) of a `startOfWeek` argument (full or three-letter name).
fn parse_start_of_week(value: &Option<Option<Bson>>) -> CommandResult<Option<i64>> {
    match value.clone().flatten() {
        None => Ok(Some(0)),
        Some(Bson::Null) | Some(Bson::Undefined) => Ok(None),
        Some(Bson::String(name)) => {
            let lower = name.to_ascii_lowercase();
            WEEKDAYS
                .iter()
                .position(|day| *day == lower || day[..3] == lower)
                .map(|index| Some(index as i64))
                .ok_or_else(|| error(5439015, format!("unknown startOfWeek value: {name}")))
        }
        Some(other) => Err(error(
            5439015,
            format!(
                "startOfWeek must be a string, but got {}",
                type_name(&other)
            ),
        )),
    }
}

fn date_diff(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let start = args[0].clone().flatten();
    let end = args[1].clone().flatten();
    let unit = parse_unit("$dateDiff", &args[2])?;
    let Some(offset) = parse_timezone(&args[3])? else {
        return Ok(Some(Bson::Null));
    };
    let Some(week_start) = parse_start_of_week(&args[4])? else {
        return Ok(Some(Bson::Null));
    };
    let (Some(start), Some(end), Some(unit)) = (
        start.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)),
        end.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)),
        unit,
    ) else {
        return Ok(Some(Bson::Null));
    };
    let start = DateParts::from_millis(date_millis("$dateDiff", &start)?, offset);
    let end = DateParts::from_millis(date_millis("$dateDiff", &end)?, offset);
    let local_millis = |parts: &DateParts| {
        parts.days * MILLIS_PER_DAY
            + i64::from(parts.hour) * 3_600_000
            + i64::from(parts.minute) * 60_000
            + i64::from(parts.second) * 1000
            + i64::from(parts.millisecond)
    };
    let difference = match unit {
        "year" => end.year - start.year,
        "quarter" => {
            (end.year * 4 + i64::from(end.month - 1) / 3)
                - (start.year * 4 + i64::from(start.month - 1) / 3)
        }
        "month" => {
            (end.year * 12 + i64::from(end.month)) - (start.year * 12 + i64::from(start.month))
        }
        "week" => {
            // Weeks are counted by crossings of the configured first day of the week.
            let week_index = |days: i64| (days + 4 - week_start).div_euclid(7);
            week_index(end.days) - week_index(start.days)
        }
        other => {
            let size = unit_millis(other);
            local_millis(&end).div_euclid(size) - local_millis(&start).div_euclid(size)
        }
    };
    Ok(Some(Bson::Int64(difference)))
}

fn date_trunc(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let date = args[0].clone().flatten();
    let unit = parse_unit("$dateTrunc", &args[1])?;
    let bin_size = match args[2].clone().flatten() {
        None => 1,
        Some(value) => match integral(&value).filter(|size| *size > 0) {
            Some(size) => size,
            None => {
                return Err(error(
                    5439017,
                    format!(
                        "$dateTrunc requires 'binSize' to be a positive integer, but got {}",
                        display_value(&value)
                    ),
                ))
            }
        },
    };
    let Some(offset) = parse_timezone(&args[3])? else {
        return Ok(Some(Bson::Null));
    };
    let Some(week_start) = parse_start_of_week(&args[4])? else {
        return Ok(Some(Bson::Null));
    };
    let (Some(date), Some(unit)) = (
        date.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)),
        unit,
    ) else {
        return Ok(Some(Bson::Null));
    };
    let millis = date_millis("$dateTrunc", &date)?;
    let local = millis.saturating_add(offset * 60_000);
    let parts = DateParts::from_millis(millis, offset);
    let truncated_local =
        truncate_local(unit, bin_size, week_start, local, &parts).ok_or_else(|| {
            error(
                crate::error::codes::BAD_VALUE,
                "$dateTrunc result cannot be represented as a date",
            )
        })?;
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(
        truncated_local.saturating_sub(offset * 60_000),
    ))))
}

/// The start of the bin containing the local instant `local`, counting bins from 2000-01-01
/// (MongoDB's reference point); `None` when it is outside the representable range.
fn truncate_local(
    unit: &str,
    bin_size: i64,
    week_start: i64,
    local: i64,
    parts: &DateParts,
) -> Option<i64> {
    match unit {
        "year" | "quarter" | "month" => {
            let months_per_unit = match unit {
                "year" => 12_i64,
                "quarter" => 3,
                _ => 1,
            }
            .checked_mul(bin_size)?;
            let months = (parts.year - 2000) * 12 + i64::from(parts.month) - 1;
            let binned = months
                .div_euclid(months_per_unit)
                .checked_mul(months_per_unit)?;
            let year = 2000_i64.checked_add(binned.div_euclid(12))?;
            if year.abs() > 300_000_000 {
                return None;
            }
            let month = (binned.rem_euclid(12) + 1) as u32;
            days_from_civil(year, month, 1).checked_mul(MILLIS_PER_DAY)
        }
        "week" => {
            let reference = days_from_civil(2000, 1, 2) + week_start;
            let width = 7_i64.checked_mul(bin_size)?;
            let weeks = (parts.days - reference)
                .div_euclid(width)
                .checked_mul(width)?;
            reference.checked_add(weeks)?.checked_mul(MILLIS_PER_DAY)
        }
        other => {
            let size = unit_millis(other).checked_mul(bin_size)?;
            let reference = days_from_civil(2000, 1, 1) * MILLIS_PER_DAY;
            let bins = local.checked_sub(reference)?.div_euclid(size);
            reference.checked_add(bins.checked_mul(size)?)
        }
    }
}
