//! The server's cache of logical sessions, as `$listLocalSessions` reports it: every session
//! (`lsid`) a command arrived with, and when it was last used, until `endSessions` or 30 idle
//! minutes. Separate from [`crate::session::SessionRegistry`], which holds only sessions with
//! transaction or retryable-write state.

use std::collections::HashMap;

use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, DateTime, Document};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::error::{codes, CommandError, CommandResult};
use crate::session::SESSION_TIMEOUT;

/// The most sessions kept at once, mongod's default `maxSessions`; a new session beyond it is
/// refused with 261 `TooManyLogicalSessions`, as there.
pub const MAX_SESSIONS: usize = 1_000_000;

/// Which sessions `$listLocalSessions` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOwners {
    /// `{}` or `{allUsers: true}`: without authentication, every session.
    All,
    /// `{users: [{user, db}, ...]}`: the sessions of these users, `user@db`.
    Users(Vec<String>),
}

impl SessionOwners {
    /// Parses the stage's argument.
    pub fn parse(spec: &Bson) -> CommandResult<SessionOwners> {
        let Bson::Document(spec) = spec else {
            return Err(CommandError::type_mismatch(
                "$listLocalSessions must take an object as its argument",
            ));
        };
        let mut all_users = false;
        let mut users = None;
        for (key, value) in spec {
            match (key.as_str(), value) {
                ("allUsers", Bson::Boolean(all)) => all_users = *all,
                ("allUsers", other) => {
                    return Err(CommandError::type_mismatch(format!(
                        "BSON field '$listLocalSessions.allUsers' is the wrong type '{}', expected type 'bool'",
                        crate::commands::type_name(other)
                    )))
                }
                ("users", Bson::Array(items)) => {
                    let mut names = Vec::with_capacity(items.len());
                    for item in items {
                        let (Some(user), Some(db)) = (
                            item.as_document().and_then(|item| item.get_str("user").ok()),
                            item.as_document().and_then(|item| item.get_str("db").ok()),
                        ) else {
                            return Err(CommandError::failed_to_parse(
                                "$listLocalSessions.users holds {user: <string>, db: <string>} objects",
                            ));
                        };
                        names.push(format!("{user}@{db}"));
                    }
                    users = Some(names);
                }
                ("users", other) => {
                    return Err(CommandError::type_mismatch(format!(
                        "BSON field '$listLocalSessions.users' is the wrong type '{}', expected type 'array'",
                        crate::commands::type_name(other)
                    )))
                }
                (other, _) => {
                    return Err(CommandError::new(
                        codes::UNKNOWN_FIELD,
                        format!("BSON field '$listLocalSessions.{other}' is an unknown field."),
                    ))
                }
            }
        }
        match (all_users, users) {
            (true, Some(_)) => Err(CommandError::bad_value(
                "$listLocalSessions takes allUsers or users, not both",
            )),
            (_, Some(users)) => Ok(SessionOwners::Users(users)),
            _ => Ok(SessionOwners::All),
        }
    }
}

/// The `uid` of a session: SHA-256 of its user's name (`user@db`), the empty name without
/// authentication, as mongod computes it.
fn uid(user: &str) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: Sha256::digest(user.as_bytes()).to_vec(),
    }
}

/// Every session seen, by `lsid.id`.
#[derive(Debug, Default)]
pub struct LocalSessions {
    sessions: Mutex<HashMap<Vec<u8>, (Binary, std::time::Instant, DateTime)>>,
}

impl LocalSessions {
    /// Records that a command of `body`'s session (if it names one) runs now.
    pub fn touch(&self, body: &Document) -> CommandResult<()> {
        let Some(Bson::Binary(id)) = body
            .get_document("lsid")
            .ok()
            .and_then(|lsid| lsid.get("id"))
        else {
            return Ok(());
        };
        let mut sessions = self.sessions.lock();
        if !sessions.contains_key(&id.bytes) && sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, (_, used, _)| used.elapsed() < SESSION_TIMEOUT);
            if sessions.len() >= MAX_SESSIONS {
                return Err(CommandError::new(
                    codes::TOO_MANY_LOGICAL_SESSIONS,
                    format!(
                        "Unable to add session into the cache because the number of active \
                         sessions is too high (limit {MAX_SESSIONS})"
                    ),
                ));
            }
        }
        sessions.insert(
            id.bytes.clone(),
            (id.clone(), std::time::Instant::now(), DateTime::now()),
        );
        Ok(())
    }

    /// `endSessions`/`killSessions`: forgets these `lsid`s.
    pub fn end(&self, lsids: &[Document]) {
        let mut sessions = self.sessions.lock();
        for lsid in lsids {
            if let Some(Bson::Binary(id)) = lsid.get("id") {
                sessions.remove(&id.bytes);
            }
        }
    }

    /// The `$listLocalSessions` documents for `owners`, oldest use first:
    /// `{_id: {id, uid}, lastUse}`.
    pub fn list(&self, owners: &SessionOwners) -> Vec<Document> {
        // Without authentication every session belongs to the empty user name.
        let owner = "";
        let wanted = match owners {
            SessionOwners::All => true,
            SessionOwners::Users(users) => users.iter().any(|user| user == owner),
        };
        if !wanted {
            return Vec::new();
        }
        let sessions = self.sessions.lock();
        let mut live: Vec<_> = sessions
            .values()
            .filter(|(_, used, _)| used.elapsed() < SESSION_TIMEOUT)
            .collect();
        live.sort_by_key(|(_, used, _)| *used);
        live.into_iter()
            .map(|(id, _, last_use)| {
                doc! { "_id": { "id": id.clone(), "uid": uid(owner) }, "lastUse": *last_use }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsid(byte: u8) -> Document {
        doc! { "id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![byte; 16] } }
    }

    #[test]
    fn every_session_a_command_names_is_listed_until_it_ends() {
        let sessions = LocalSessions::default();
        sessions
            .touch(&doc! { "find": "c", "lsid": lsid(1) })
            .unwrap();
        sessions
            .touch(&doc! { "find": "c", "lsid": lsid(2) })
            .unwrap();
        sessions
            .touch(&doc! { "find": "c", "lsid": lsid(1) })
            .unwrap();
        sessions.touch(&doc! { "ping": 1 }).unwrap();
        let listed = sessions.list(&SessionOwners::All);
        let ids: Vec<&Bson> = listed
            .iter()
            .map(|session| session.get_document("_id").unwrap().get("id").unwrap())
            .collect();
        assert_eq!(
            ids,
            [lsid(2).get("id").unwrap(), lsid(1).get("id").unwrap()]
        );
        let uid = listed[0]
            .get_document("_id")
            .unwrap()
            .get_binary_generic("uid")
            .unwrap();
        assert_eq!(
            hex::encode(uid),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        sessions.end(&[lsid(1)]);
        assert_eq!(sessions.list(&SessionOwners::All).len(), 1);
    }

    #[test]
    fn named_users_own_no_session_without_authentication() {
        let sessions = LocalSessions::default();
        sessions
            .touch(&doc! { "find": "c", "lsid": lsid(1) })
            .unwrap();
        let owners = SessionOwners::parse(&Bson::Document(
            doc! { "users": [ { "user": "app", "db": "admin" } ] },
        ))
        .unwrap();
        assert_eq!(sessions.list(&owners), Vec::<Document>::new());
    }

    #[test]
    fn malformed_arguments_are_refused_with_mongods_codes() {
        for (spec, code) in [
            (Bson::Int32(1), 14),
            (Bson::Document(doc! { "allUsers": 1 }), 14),
            (Bson::Document(doc! { "users": [ { "user": "a" } ] }), 9),
            (Bson::Document(doc! { "bogus": true }), 40415),
            (Bson::Document(doc! { "allUsers": true, "users": [] }), 2),
        ] {
            let error = SessionOwners::parse(&spec).expect_err("refused");
            assert_eq!(error.code, code, "{spec}");
        }
    }
}
