//! Command dispatch: one handler per MongoDB command, replying in MongoDB's shapes. Anything
//! else is code 59 (CommandNotFound).
