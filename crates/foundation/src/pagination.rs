//! Cursor pagination primitives for Relay-style connections: opaque cursors and validated
//! `first/after/last/before` requests. Domain crates decide what a position means (usually the
//! sort key plus `_id`); this module only keeps cursors opaque and requests sane.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::PaginationError;

/// Largest page any list serves, so one request cannot read a whole collection.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Page size when the client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: i64 = 20;

/// Prefix inside every encoded cursor; lets the format change later without misreading old ones.
const CURSOR_VERSION: &str = "c1:";

/// A position in an ordered list, opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The position as the owning domain crate wrote it (for example `"<created_at>:<id>"`).
    pub position: String,
}

impl Cursor {
    /// A cursor at `position`.
    pub fn new(position: impl Into<String>) -> Self {
        Self {
            position: position.into(),
        }
    }

    /// A cursor for the zero-based `offset` in a list; for small lists paged in memory.
    pub fn from_offset(offset: u64) -> Self {
        Self::new(offset.to_string())
    }

    /// The offset this cursor names, when it was made by [`Cursor::from_offset`].
    pub fn offset(&self) -> Result<u64, PaginationError> {
        self.position
            .parse()
            .map_err(|_| PaginationError::MalformedCursor)
    }

    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{}", self.position))
    }

    /// Reads a cursor that [`Cursor::encode`] produced.
    pub fn decode(opaque: &str) -> Result<Self, PaginationError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(opaque)
            .map_err(|_| PaginationError::MalformedCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| PaginationError::MalformedCursor)?;
        let position = text
            .strip_prefix(CURSOR_VERSION)
            .ok_or(PaginationError::MalformedCursor)?;
        Ok(Self::new(position))
    }
}

/// One page of a list read by keyset (the items after a cursor's key), with what a connection
/// needs around it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysetPage<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
    /// How many items the whole list holds.
    pub total_count: u64,
}

/// Which way a page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageDirection {
    /// `first`/`after`: from the start (or after a cursor) onwards.
    Forward,
    /// `last`/`before`: from the end (or before a cursor) backwards.
    Backward,
}

/// The four Relay connection arguments as the client sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Number of items from the start.
    pub first: Option<i64>,
    /// Opaque cursor after which to start.
    pub after: Option<String>,
    /// Number of items from the end.
    pub last: Option<i64>,
    /// Opaque cursor before which to stop.
    pub before: Option<String>,
}

/// A page request that has been checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPage {
    /// Reading direction.
    pub direction: PageDirection,
    /// Number of items to return (0 to [`MAX_PAGE_SIZE`]).
    pub limit: i64,
    /// Decoded `after` (forward) or `before` (backward) cursor.
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// A forward request for the first `first` items.
    pub fn first(first: i64) -> Self {
        Self {
            first: Some(first),
            ..Self::default()
        }
    }

    /// Checks the combination and ranges and decodes the cursor. Mixing directions is refused
    /// rather than guessed, because Relay's combined semantics are rarely what a client meant.
    pub fn validate(&self) -> Result<ValidatedPage, PaginationError> {
        if self.first.is_some() && self.last.is_some() {
            return Err(PaginationError::FirstAndLast);
        }
        if self.last.is_some() && self.after.is_some() {
            return Err(PaginationError::CursorAgainstDirection {
                cursor: "after",
                count: "last",
            });
        }
        if self.first.is_some() && self.before.is_some() {
            return Err(PaginationError::CursorAgainstDirection {
                cursor: "before",
                count: "first",
            });
        }
        let backward = self.last.is_some() || self.before.is_some();
        let (argument, requested, raw_cursor) = if backward {
            ("last", self.last, self.before.as_deref())
        } else {
            ("first", self.first, self.after.as_deref())
        };
        let limit = requested.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(PaginationError::PageSizeOutOfRange {
                argument,
                value: limit,
                max: MAX_PAGE_SIZE,
            });
        }
        let cursor = raw_cursor.map(Cursor::decode).transpose()?;
        Ok(ValidatedPage {
            direction: if backward {
                PageDirection::Backward
            } else {
                PageDirection::Forward
            },
            limit,
            cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_opaque() {
        let cursor = Cursor::new("1700000000000:65a1b2c3d4e5f6789abcdef0");
        let opaque = cursor.encode();
        assert!(!opaque.contains("65a1"));
        assert_eq!(Cursor::decode(&opaque).unwrap(), cursor);
        assert_eq!(
            Cursor::decode(&Cursor::from_offset(7).encode())
                .unwrap()
                .offset()
                .unwrap(),
            7
        );
    }

    #[test]
    fn foreign_text_is_a_malformed_cursor() {
        assert_eq!(Cursor::decode("%%%"), Err(PaginationError::MalformedCursor));
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode("x1:5")),
            Err(PaginationError::MalformedCursor)
        );
    }

    #[test]
    fn default_request_reads_forward_twenty() {
        let page = PageRequest::default().validate().unwrap();
        assert_eq!(
            page,
            ValidatedPage {
                direction: PageDirection::Forward,
                limit: 20,
                cursor: None
            }
        );
    }

    #[test]
    fn backward_request_decodes_before() {
        let before = Cursor::from_offset(10).encode();
        let page = PageRequest {
            last: Some(5),
            before: Some(before),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(page.direction, PageDirection::Backward);
        assert_eq!(page.limit, 5);
        assert_eq!(page.cursor, Some(Cursor::from_offset(10)));
    }

    #[test]
    fn invalid_combinations_and_sizes_are_refused() {
        let both = PageRequest {
            first: Some(1),
            last: Some(1),
            ..Default::default()
        };
        assert_eq!(both.validate(), Err(PaginationError::FirstAndLast));
        let crossed = PageRequest {
            last: Some(1),
            after: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            crossed.validate(),
            Err(PaginationError::CursorAgainstDirection {
                cursor: "after",
                count: "last"
            })
        );
        assert_eq!(
            PageRequest::first(101).validate(),
            Err(PaginationError::PageSizeOutOfRange {
                argument: "first",
                value: 101,
                max: 100
            })
        );
        assert!(PageRequest::first(-1).validate().is_err());
    }
}
