//! The by-ids batch loading every domain's dataloaders share: one query on an indexed field for
//! every key of the batch, answered in one reply, then grouped by parent in the order the query
//! sorted them.

use std::collections::HashMap;
use std::hash::Hash;

use bson::Document;
use futures_util::TryStreamExt;
use mongodb::Collection;
use serde::de::DeserializeOwned;

use crate::PageDirection;

/// Documents asked for in a batch query's first reply, so one batch is one command (not a `find`
/// plus `getMore`s) up to this many documents or 16 MiB.
pub const BATCH_REPLY_DOCUMENTS: u32 = 10_000;

/// Every document of `collection` matching `filter` (typically `{ field: { $in: keys } }` on an
/// indexed field), in `sort` order when given, in one command for up to
/// [`BATCH_REPLY_DOCUMENTS`] documents.
pub async fn find_batch<T>(
    collection: &Collection<T>,
    filter: Document,
    sort: Option<Document>,
) -> Result<Vec<T>, mongodb::error::Error>
where
    T: DeserializeOwned + Send + Sync,
{
    let mut find = collection.find(filter).batch_size(BATCH_REPLY_DOCUMENTS);
    if let Some(sort) = sort {
        find = find.sort(sort);
    }
    find.await?.try_collect().await
}

/// Groups `items` under each parent `parents_of` names (an item may have several parents, or
/// none), keeping their order and at most `per_parent_limit` per parent.
pub fn group_by_parent<T, K, Parents>(
    items: Vec<T>,
    per_parent_limit: usize,
    parents_of: impl Fn(&T) -> Parents,
) -> HashMap<K, Vec<T>>
where
    T: Clone,
    K: Hash + Eq,
    Parents: IntoIterator<Item = K>,
{
    let mut grouped: HashMap<K, Vec<T>> = HashMap::new();
    for item in items {
        for parent in parents_of(&item) {
            let list = grouped.entry(parent).or_default();
            if list.len() < per_parent_limit {
                list.push(item.clone());
            }
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_grouped_in_order_under_every_parent_up_to_the_limit() {
        let items = vec![
            (1, vec!['a']),
            (2, vec!['a', 'b']),
            (3, vec!['a']),
            (4, vec![]),
        ];
        let grouped = group_by_parent(items, 2, |(_, parents)| parents.clone());
        let ids =
            |parent: char| -> Vec<i32> { grouped[&parent].iter().map(|(id, _)| *id).collect() };
        assert_eq!(ids('a'), vec![1, 2]);
        assert_eq!(ids('b'), vec![2]);
        assert_eq!(grouped.len(), 2);
    }
}

/// Which end of the `_id` order a keyset page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOrder {
    /// Oldest first (`_id` ascending): a queue in the order things arrived.
    OldestFirst,
    /// Newest first (`_id` descending).
    NewestFirst,
}

/// One keyset page of the documents of `collection` matching `selected`, in `order` by `_id`:
/// at most `limit` after the document `after` (when given), with how many match in all. Two
/// commands (a count and a find), whatever the list's length; one more document than asked is
/// read to tell whether a next page exists.
pub async fn keyset_page<T>(
    collection: &Collection<T>,
    selected: Document,
    order: IdOrder,
    after: Option<bson::oid::ObjectId>,
    limit: u32,
) -> Result<crate::KeysetPage<T>, mongodb::error::Error>
where
    T: DeserializeOwned + Send + Sync,
{
    keyset_page_towards(
        collection,
        selected,
        order,
        PageDirection::Forward,
        after,
        limit,
    )
    .await
}

/// [`keyset_page`] read either way: `Forward` takes at most `limit` after `cursor`, `Backward`
/// at most `limit` before it (the last `limit` of the list without one). The items are in the
/// list's order either way; `has_next_page` tells whether more lie beyond them in the reading
/// direction (after the last item forward, before the first backward).
pub async fn keyset_page_towards<T>(
    collection: &Collection<T>,
    selected: Document,
    order: IdOrder,
    direction: PageDirection,
    cursor: Option<bson::oid::ObjectId>,
    limit: u32,
) -> Result<crate::KeysetPage<T>, mongodb::error::Error>
where
    T: DeserializeOwned + Send + Sync,
{
    let ascending = (order == IdOrder::OldestFirst) == (direction == PageDirection::Forward);
    let (beyond, sort) = if ascending { ("$gt", 1) } else { ("$lt", -1) };
    let total_count = collection.count_documents(selected.clone()).await?;
    let filter = match cursor {
        Some(cursor) => bson::doc! { "$and": [selected, { "_id": { beyond: cursor } }] },
        None => selected,
    };
    let mut items: Vec<T> = collection
        .find(filter)
        .sort(bson::doc! { "_id": sort })
        .limit(i64::from(limit) + 1)
        .await?
        .try_collect()
        .await?;
    let has_next_page = items.len() > limit as usize;
    items.truncate(limit as usize);
    if direction == PageDirection::Backward {
        items.reverse();
    }
    Ok(crate::KeysetPage {
        items,
        has_next_page,
        total_count,
    })
}
