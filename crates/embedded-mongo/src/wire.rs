//! The MongoDB wire protocol: message headers, OP_MSG (body and document-sequence sections,
//! checksum, `moreToCome`/`exhaustAllowed` flags), legacy OP_QUERY and OP_REPLY.
