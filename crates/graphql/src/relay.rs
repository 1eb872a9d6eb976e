//! Relay global object identification (opaque IDs of the form `base64("<Type>:<hex ObjectId>")`)
//! and cursor connections built on foundation's page requests.
//!
//! Every object with an identity exposes such an `id`, and `node(id:)` fetches any of them back.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{SimpleObject, ID};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bson::oid::ObjectId;
use foundation::{Cursor, PageDirection, PageRequest};

use crate::error::ApiError;

/// The object types that have global IDs; their names are the GraphQL type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// A `User`.
    User,
    /// An `Organization`.
    Organization,
    /// A `Session` (one signed-in device).
    Session,
    /// An `ApiKey`.
    ApiKey,
    /// A `Project`.
    Project,
    /// A `Job`.
    Job,
    /// A `Submission`.
    Submission,
    /// An `AiTestTemplate`.
    AiTestTemplate,
    /// A `Rating`.
    Rating,
    /// A `Dispute`.
    Dispute,
    /// An `OrganizationInvitation`.
    OrganizationInvitation,
    /// A `Notification` (its recipient only).
    Notification,
    /// A `QualificationTest` (its tester and platform admins).
    QualificationTest,
}

impl NodeType {
    /// The GraphQL type name, which is also the prefix inside the encoded ID.
    pub fn type_name(self) -> &'static str {
        match self {
            NodeType::User => "User",
            NodeType::Organization => "Organization",
            NodeType::Session => "Session",
            NodeType::ApiKey => "ApiKey",
            NodeType::Project => "Project",
            NodeType::Job => "Job",
            NodeType::Submission => "Submission",
            NodeType::AiTestTemplate => "AiTestTemplate",
            NodeType::Rating => "Rating",
            NodeType::Dispute => "Dispute",
            NodeType::OrganizationInvitation => "OrganizationInvitation",
            NodeType::Notification => "Notification",
            NodeType::QualificationTest => "QualificationTest",
        }
    }

    fn from_type_name(name: &str) -> Option<Self> {
        [
            NodeType::User,
            NodeType::Organization,
            NodeType::Session,
            NodeType::ApiKey,
            NodeType::Project,
            NodeType::Job,
            NodeType::Submission,
            NodeType::AiTestTemplate,
            NodeType::Rating,
            NodeType::Dispute,
            NodeType::OrganizationInvitation,
            NodeType::Notification,
            NodeType::QualificationTest,
        ]
        .into_iter()
        .find(|candidate| candidate.type_name() == name)
    }
}

/// A decoded global ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalId {
    /// Which type the ID names.
    pub node_type: NodeType,
    /// The document's `_id`.
    pub object_id: ObjectId,
}

impl GlobalId {
    /// The opaque ID clients see.
    pub fn encode(node_type: NodeType, object_id: ObjectId) -> ID {
        ID(STANDARD.encode(format!("{}:{}", node_type.type_name(), object_id.to_hex())))
    }

    /// Decodes any global ID; `field` names the argument for the error.
    pub fn decode(id: &str, field: &str) -> Result<GlobalId, ApiError> {
        let malformed = || ApiError::bad_input(field, "is not a valid ID");
        let bytes = STANDARD.decode(id).map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        let (type_name, hex) = text.split_once(':').ok_or_else(malformed)?;
        let node_type = NodeType::from_type_name(type_name).ok_or_else(malformed)?;
        let object_id = ObjectId::parse_str(hex).map_err(|_| malformed())?;
        Ok(GlobalId {
            node_type,
            object_id,
        })
    }

    /// Decodes an ID that must name a `expected` object.
    pub fn decode_as(id: &str, expected: NodeType, field: &str) -> Result<ObjectId, ApiError> {
        let decoded = GlobalId::decode(id, field)?;
        if decoded.node_type != expected {
            return Err(ApiError::bad_input(
                field,
                format!("is not the ID of a {}", expected.type_name()),
            ));
        }
        Ok(decoded.object_id)
    }
}

/// The connection-level fields every list carries besides edges and `pageInfo`.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many items the whole list holds, across all pages.
    pub total_count: u64,
}

/// A Relay connection whose cursors are opaque strings.
pub type ListConnection<Node> = Connection<String, Node, ConnectionTotals>;

/// What a connection field adds to a query's complexity: its page size (the default page when
/// none is given) times what each item costs, plus one for the field itself.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).unwrap_or(20).clamp(0, 100) as usize;
    1 + size.saturating_mul(child_complexity)
}

/// Turns a pagination error into `BAD_USER_INPUT` on the argument it is about.
pub fn page_error(error: foundation::PaginationError) -> ApiError {
    use foundation::PaginationError;
    let field = match &error {
        PaginationError::FirstAndLast => "last",
        PaginationError::CursorAgainstDirection { cursor, .. } => cursor,
        PaginationError::PageSizeOutOfRange { argument, .. } => argument,
        PaginationError::MalformedCursor => "after",
    };
    ApiError::bad_input(field, error.to_string())
}

/// The Relay arguments as a domain page request.
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageRequest {
    PageRequest {
        first: first.map(i64::from),
        after,
        last: last.map(i64::from),
        before,
    }
}

/// The cursor of an item in a list ordered by `_id` (keyset paging: the next page starts after
/// that id, whatever was inserted meanwhile).
pub fn id_cursor(id: ObjectId) -> String {
    Cursor::new(id.to_hex()).encode()
}

/// The `_id` an [`id_cursor`] names; anything else is `BAD_USER_INPUT` on `after`.
pub fn decode_id_cursor(after: &str) -> Result<ObjectId, ApiError> {
    let cursor = Cursor::decode(after).map_err(|_| not_a_cursor("after"))?;
    cursor_id(&cursor, "after")
}

/// The `_id` a decoded cursor of a keyset list stands at; `argument` names it in the error.
fn cursor_id(cursor: &Cursor, argument: &'static str) -> Result<ObjectId, ApiError> {
    ObjectId::parse_str(&cursor.position).map_err(|_| not_a_cursor(argument))
}

fn not_a_cursor(argument: &'static str) -> ApiError {
    ApiError::bad_input(argument, "is not a cursor of this list")
}

/// A connection over one keyset page of a domain directory.
pub fn keyset_connection<T, N>(
    has_previous_page: bool,
    page: foundation::KeysetPage<T>,
    id_of: impl Fn(&T) -> ObjectId,
    to_node: impl Fn(T) -> N,
) -> ListConnection<N>
where
    N: async_graphql::OutputType,
{
    let mut connection = ListConnection::with_additional_fields(
        has_previous_page,
        page.has_next_page,
        ConnectionTotals {
            total_count: page.total_count,
        },
    );
    connection.edges = page
        .items
        .into_iter()
        .map(|item| Edge::new(id_cursor(id_of(&item)), to_node(item)))
        .collect();
    connection
}

/// The Relay arguments of a list read by keyset in MongoDB: the direction, the page size and
/// the `_id` the cursor names (`BAD_USER_INPUT` on `after`/`before` for anything else).
pub fn keyset_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<(PageDirection, Option<ObjectId>, u32), ApiError> {
    let page = page_request(first, after, last, before)
        .validate()
        .map_err(page_error)?;
    let argument = match page.direction {
        PageDirection::Forward => "after",
        PageDirection::Backward => "before",
    };
    let cursor = page
        .cursor
        .map(|cursor| cursor_id(&cursor, argument))
        .transpose()?;
    let limit = u32::try_from(page.limit).unwrap_or(0);
    Ok((page.direction, cursor, limit))
}

/// A connection over one keyset page read in `direction` from `cursor`
/// ([`foundation::batch::keyset_page_towards`]).
pub fn keyset_connection_towards<T, N>(
    direction: PageDirection,
    cursor: Option<ObjectId>,
    page: foundation::KeysetPage<T>,
    id_of: impl Fn(&T) -> ObjectId,
    to_node: impl Fn(T) -> N,
) -> ListConnection<N>
where
    N: async_graphql::OutputType,
{
    let more = page.has_next_page;
    let (has_previous_page, has_next_page) = match direction {
        PageDirection::Forward => (cursor.is_some(), more),
        PageDirection::Backward => (more, cursor.is_some()),
    };
    let mut connection = keyset_connection(has_previous_page, page, id_of, to_node);
    connection.has_next_page = has_next_page;
    connection
}

/// Pages a complete, ordered list in memory; cursors are positions in that list.
///
/// Used for lists that are bounded by design (a user's sessions, an organization's members,
/// its API keys), where reading all of them is one query and `totalCount` comes for free.
pub fn connection_from_list<T, N>(
    page: &PageRequest,
    items: Vec<T>,
    to_node: impl Fn(T) -> N,
) -> Result<ListConnection<N>, ApiError>
where
    N: async_graphql::OutputType,
{
    let page = page.validate().map_err(page_error)?;
    let total = items.len();
    let limit = usize::try_from(page.limit).unwrap_or(0);
    let cursor_index = page
        .cursor
        .as_ref()
        .map(|cursor| cursor.offset().map_err(page_error))
        .transpose()?
        .map(|offset| usize::try_from(offset).unwrap_or(usize::MAX).min(total));
    let (start, end) = match page.direction {
        PageDirection::Forward => {
            let start = cursor_index.map_or(0, |index| (index + 1).min(total));
            (start, (start + limit).min(total))
        }
        PageDirection::Backward => {
            let end = cursor_index.unwrap_or(total);
            (end.saturating_sub(limit), end)
        }
    };
    let mut connection = ListConnection::with_additional_fields(
        start > 0,
        end < total,
        ConnectionTotals {
            total_count: total as u64,
        },
    );
    connection.edges = items
        .into_iter()
        .enumerate()
        .skip(start)
        .take(end - start)
        .map(|(index, item)| Edge::new(Cursor::from_offset(index as u64).encode(), to_node(item)))
        .collect();
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(connection: &ListConnection<i32>) -> Vec<i32> {
        connection.edges.iter().map(|edge| edge.node).collect()
    }

    fn after(index: u64) -> Option<String> {
        Some(Cursor::from_offset(index).encode())
    }

    #[test]
    fn global_id_round_trips_and_is_base64_of_type_and_hex() {
        let object_id = ObjectId::parse_str("65a1b2c3d4e5f6789abcdef0").expect("valid hex");
        let id = GlobalId::encode(NodeType::User, object_id);
        assert_eq!(id.0, STANDARD.encode("User:65a1b2c3d4e5f6789abcdef0"));
        let decoded = GlobalId::decode(&id, "id").expect("decodes");
        assert_eq!(decoded.node_type, NodeType::User);
        assert_eq!(decoded.object_id, object_id);
    }

    #[test]
    fn global_id_of_another_type_is_bad_input() {
        let id = GlobalId::encode(NodeType::Organization, ObjectId::new());
        let error = GlobalId::decode_as(&id, NodeType::User, "userId").expect_err("wrong type");
        assert!(matches!(error, ApiError::BadUserInput { field, .. } if field == "userId"));
    }

    #[test]
    fn garbage_id_is_bad_input() {
        assert!(GlobalId::decode("not base64!", "id").is_err());
        assert!(GlobalId::decode(&STANDARD.encode("User:zz"), "id").is_err());
    }

    #[test]
    fn first_and_after_walk_forward() {
        let items: Vec<i32> = (1..=5).collect();
        let first_page = connection_from_list(
            &page_request(Some(2), None, None, None),
            items.clone(),
            |n| n,
        )
        .expect("page");
        assert_eq!(keys(&first_page), vec![1, 2]);
        assert!(first_page.has_next_page);
        assert!(!first_page.has_previous_page);
        assert_eq!(first_page.additional_fields.total_count, 5);
        let second_page =
            connection_from_list(&page_request(Some(2), after(1), None, None), items, |n| n)
                .expect("page");
        assert_eq!(keys(&second_page), vec![3, 4]);
        assert!(second_page.has_previous_page);
        assert!(second_page.has_next_page);
    }

    #[test]
    fn last_and_before_walk_backward() {
        let items: Vec<i32> = (1..=5).collect();
        let tail = connection_from_list(
            &page_request(None, None, Some(2), None),
            items.clone(),
            |n| n,
        )
        .expect("page");
        assert_eq!(keys(&tail), vec![4, 5]);
        assert!(!tail.has_next_page);
        assert!(tail.has_previous_page);
        let before_tail =
            connection_from_list(&page_request(None, None, Some(2), after(3)), items, |n| n)
                .expect("page");
        assert_eq!(keys(&before_tail), vec![2, 3]);
    }

    #[test]
    fn out_of_range_page_sizes_are_bad_input_on_that_argument() {
        let too_many =
            connection_from_list(&page_request(Some(1000), None, None, None), vec![1], |n| n);
        assert!(matches!(too_many, Err(ApiError::BadUserInput { field, .. }) if field == "first"));
        let negative =
            connection_from_list(&page_request(None, None, Some(-1), None), vec![1], |n| n);
        assert!(matches!(negative, Err(ApiError::BadUserInput { field, .. }) if field == "last"));
    }
}
