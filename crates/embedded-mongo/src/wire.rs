//! The MongoDB wire protocol: message headers, OP_MSG (body and document-sequence sections,
//! checksum, `moreToCome`/`exhaustAllowed` flags), legacy OP_QUERY and OP_REPLY.
//!
//! Decoding never panics: a frame whose header is unusable is a [`FrameError`] (the connection is
//! closed, as MongoDB does), and a well-framed message whose contents are malformed decodes to a
//! [`CommandError`] that the server sends back as an error reply.

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::Document;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{codes, CommandError, CommandResult};

/// Largest message the server accepts or sends (`maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE_BYTES: i32 = 48_000_000;
/// Largest BSON document the server stores (`maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;
/// Largest number of statements in one write command (`maxWriteBatchSize`).
pub const MAX_WRITE_BATCH_SIZE: i32 = 100_000;
/// Command bodies may exceed `maxBsonObjectSize` by this much, as in MongoDB, so that a
/// maximum-size document still fits inside an `insert` command.
const COMMAND_OVERHEAD_BYTES: usize = 16 * 1024;
/// Deepest nesting of documents and arrays accepted in a message; deeper input would make the
/// recursive document code overflow its stack.
pub const MAX_NESTING_DEPTH: usize = 200;

/// `OP_REPLY`, the legacy reply to `OP_QUERY`.
pub const OP_REPLY: i32 = 1;
/// `OP_QUERY`, used by drivers only for the legacy handshake.
pub const OP_QUERY: i32 = 2004;
/// `OP_COMPRESSED`; never negotiated by this server.
pub const OP_COMPRESSED: i32 = 2012;
/// `OP_MSG`, the protocol of every modern command.
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag: a CRC-32C checksum follows the sections.
pub const FLAG_CHECKSUM_PRESENT: u32 = 1;
/// OP_MSG flag: the sender expects no reply to this message.
pub const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag: the client accepts several replies to one request. This server streams the
/// awaitable `hello` (drivers' streaming monitor) and answers anything else once.
pub const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;
const KNOWN_FLAGS: u32 = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED;

/// The 16-byte header that starts every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Total size of the message, header included.
    pub message_length: i32,
    /// Identifier chosen by the sender.
    pub request_id: i32,
    /// The `request_id` this message answers (0 for requests).
    pub response_to: i32,
    pub op_code: i32,
}

impl MessageHeader {
    /// Size of the header on the wire.
    pub const SIZE: usize = 16;

    /// Parses a header from its 16 bytes.
    pub fn parse(bytes: &[u8; 16]) -> MessageHeader {
        MessageHeader {
            message_length: read_i32(bytes, 0),
            request_id: read_i32(bytes, 4),
            response_to: read_i32(bytes, 8),
            op_code: read_i32(bytes, 12),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.message_length.to_le_bytes());
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(&self.response_to.to_le_bytes());
        out.extend_from_slice(&self.op_code.to_le_bytes());
    }
}

/// Why a frame could not be read; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("invalid message length {0}")]
    InvalidLength(i32),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// One framed message: its header and the bytes after the header.
#[derive(Debug, Clone)]
pub struct Frame {
    pub header: MessageHeader,
    pub payload: Vec<u8>,
}

/// Reads one message; a clean end of stream before a header is [`FrameError::Closed`].
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Frame, FrameError> {
    let mut header_bytes = [0u8; MessageHeader::SIZE];
    let mut filled = 0;
    while filled < header_bytes.len() {
        let read = reader.read(&mut header_bytes[filled..]).await?;
        if read == 0 {
            return if filled == 0 {
                Err(FrameError::Closed)
            } else {
                Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
            };
        }
        filled += read;
    }
    let header = MessageHeader::parse(&header_bytes);
    if header.message_length < MessageHeader::SIZE as i32
        || header.message_length > MAX_MESSAGE_SIZE_BYTES
    {
        return Err(FrameError::InvalidLength(header.message_length));
    }
    // Grow the buffer as bytes arrive rather than trusting the header with a 48 MB allocation.
    let expected = header.message_length as usize - MessageHeader::SIZE;
    let mut payload = Vec::with_capacity(expected.min(64 * 1024));
    (&mut *reader)
        .take(expected as u64)
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != expected {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Frame { header, payload })
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// An OP_MSG command; document sequences are already merged into `body`.
    Message { flags: u32, body: Document },
    /// A legacy OP_QUERY on `<db>.$cmd` (or any other namespace, which is refused later).
    Query { namespace: String, query: Document },
}

/// Decodes a frame into a request; malformed contents are an error to send back.
pub fn decode_request(frame: &Frame) -> CommandResult<Request> {
    match frame.header.op_code {
        OP_MSG => decode_op_msg(&frame.payload),
        OP_QUERY => decode_op_query(&frame.payload),
        OP_COMPRESSED => Err(CommandError::new(
            codes::BAD_VALUE,
            "OP_COMPRESSED is not supported: this server negotiates no compressors",
        )),
        other => Err(CommandError::new(
            codes::BAD_VALUE,
            format!("unsupported wire protocol opcode {other}"),
        )),
    }
}

fn decode_op_msg(payload: &[u8]) -> CommandResult<Request> {
    if payload.len() < 4 {
        return Err(invalid_message("OP_MSG is too short to hold its flags"));
    }
    let flags = read_i32(payload, 0) as u32;
    // Bits 0-15 are required: an unknown one must be refused. Bits 16-31 are optional.
    let unknown_required = flags & 0xFFFF & !KNOWN_FLAGS;
    if unknown_required != 0 {
        return Err(invalid_message(format!(
            "Unrecognized required bits in OP_MSG flags: {unknown_required:#x}"
        )));
    }
    let mut sections_end = payload.len();
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        if payload.len() < 8 {
            return Err(invalid_message("OP_MSG is too short to hold its checksum"));
        }
        sections_end -= 4;
    }
    let mut position = 4;
    let mut body: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<bson::Bson>)> = Vec::new();
    while position < sections_end {
        let kind = payload[position];
        position += 1;
        match kind {
            0 => {
                let (document, used) = decode_document(&payload[position..sections_end])?;
                if body.is_some() {
                    return Err(invalid_message("OP_MSG has more than one body section"));
                }
                body = Some(document);
                position += used;
            }
            1 => {
                let remaining = &payload[position..sections_end];
                if remaining.len() < 4 {
                    return Err(invalid_message("truncated document sequence section"));
                }
                let size = read_i32(remaining, 0);
                if size < 5 || size as usize > remaining.len() {
                    return Err(invalid_message(format!(
                        "invalid document sequence size {size}"
                    )));
                }
                let section = &remaining[4..size as usize];
                let Some(nul) = section.iter().position(|byte| *byte == 0) else {
                    return Err(invalid_message(
                        "document sequence identifier is not terminated",
                    ));
                };
                let identifier = std::str::from_utf8(&section[..nul])
                    .map_err(|_| invalid_message("document sequence identifier is not UTF-8"))?
                    .to_string();
                let mut documents = Vec::new();
                let mut cursor = nul + 1;
                while cursor < section.len() {
                    let (document, used) = decode_document(&section[cursor..])?;
                    documents.push(bson::Bson::Document(document));
                    cursor += used;
                }
                sequences.push((identifier, documents));
                position += size as usize;
            }
            other => {
                return Err(invalid_message(format!(
                    "Unknown section kind {other} in OP_MSG"
                )))
            }
        }
    }
    let Some(mut body) = body else {
        return Err(invalid_message("OP_MSG does not contain a body section"));
    };
    for (identifier, documents) in sequences {
        if body.contains_key(&identifier) {
            return Err(CommandError::bad_value(format!(
                "Duplicate field {identifier} in OP_MSG: present in the body and as a document sequence"
            )));
        }
        body.insert(identifier, documents);
    }
    Ok(Request::Message { flags, body })
}

fn decode_op_query(payload: &[u8]) -> CommandResult<Request> {
    if payload.len() < 4 {
        return Err(invalid_message("OP_QUERY is too short"));
    }
    let Some(nul) = payload[4..].iter().position(|byte| *byte == 0) else {
        return Err(invalid_message(
            "OP_QUERY collection name is not terminated",
        ));
    };
    let namespace = std::str::from_utf8(&payload[4..4 + nul])
        .map_err(|_| invalid_message("OP_QUERY collection name is not UTF-8"))?
        .to_string();
    // Skip the name's terminator, numberToSkip and numberToReturn.
    let query_start = 4 + nul + 1 + 8;
    if payload.len() < query_start {
        return Err(invalid_message("OP_QUERY is truncated"));
    }
    let (mut query, _) = decode_document(&payload[query_start..])?;
    // Drivers may wrap the command as `{$query: {...}, $readPreference: ...}`.
    if let Ok(inner) = query.get_document("$query") {
        query = inner.clone();
    }
    Ok(Request::Query { namespace, query })
}

/// Decodes one BSON document at the start of `bytes`, returning it and its encoded size.
///
/// The document is validated without recursion first (structure, UTF-8, nesting depth) so that
/// hostile input cannot overflow the stack during conversion.
pub fn decode_document(bytes: &[u8]) -> CommandResult<(Document, usize)> {
    if bytes.len() < 5 {
        return Err(invalid_bson("document is truncated"));
    }
    let size = read_i32(bytes, 0);
    if size < 5 || size as usize > bytes.len() {
        return Err(invalid_bson(format!("invalid document length {size}")));
    }
    let size = size as usize;
    if size > MAX_BSON_OBJECT_SIZE as usize + COMMAND_OVERHEAD_BYTES {
        return Err(CommandError::new(
            codes::BSON_OBJECT_TOO_LARGE,
            format!("BSONObj size: {size} is invalid. Size must be between 0 and 16793600(16MB)"),
        ));
    }
    let raw = RawDocument::from_bytes(&bytes[..size]).map_err(invalid_bson)?;
    check_structure(raw)?;
    let document = Document::try_from(raw).map_err(invalid_bson)?;
    Ok((document, size))
}

/// Walks every element with an explicit stack, so malformed bytes and absurd nesting are found
/// before the recursive conversion to [`Document`].
fn check_structure(root: &RawDocument) -> CommandResult<()> {
    enum Container<'a> {
        Document(&'a RawDocument),
        Array(&'a RawArray),
    }
    let mut stack = vec![(Container::Document(root), 1usize)];
    while let Some((container, depth)) = stack.pop() {
        if depth > MAX_NESTING_DEPTH {
            return Err(CommandError::new(
                codes::INVALID_BSON,
                format!("BSON nesting depth exceeds the maximum of {MAX_NESTING_DEPTH}"),
            ));
        }
        let mut values: Vec<RawBsonRef<'_>> = Vec::new();
        match container {
            Container::Document(document) => {
                for element in document {
                    let (_, value) = element.map_err(invalid_bson)?;
                    values.push(value);
                }
            }
            Container::Array(array) => {
                for element in array {
                    values.push(element.map_err(invalid_bson)?);
                }
            }
        }
        for value in values {
            match value {
                RawBsonRef::Document(child) => stack.push((Container::Document(child), depth + 1)),
                RawBsonRef::Array(child) => stack.push((Container::Array(child), depth + 1)),
                RawBsonRef::JavaScriptCodeWithScope(code) => {
                    stack.push((Container::Document(code.scope), depth + 1))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Encodes an OP_MSG reply with a single body section.
pub fn encode_op_msg(request_id: i32, response_to: i32, body: &Document) -> CommandResult<Vec<u8>> {
    encode_op_msg_with_flags(request_id, response_to, 0, body)
}

/// Encodes an OP_MSG reply with `flags` (`FLAG_MORE_TO_COME` on each reply of a stream).
pub fn encode_op_msg_with_flags(
    request_id: i32,
    response_to: i32,
    flags: u32,
    body: &Document,
) -> CommandResult<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    MessageHeader {
        message_length: 0,
        request_id,
        response_to,
        op_code: OP_MSG,
    }
    .write(&mut out);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0);
    body.to_writer(&mut out)
        .map_err(|error| CommandError::new(codes::INTERNAL_ERROR, error.to_string()))?;
    finish_message(out)
}

/// Encodes an OP_REPLY carrying one document, the answer to a legacy OP_QUERY.
pub fn encode_op_reply(
    request_id: i32,
    response_to: i32,
    body: &Document,
) -> CommandResult<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    MessageHeader {
        message_length: 0,
        request_id,
        response_to,
        op_code: OP_REPLY,
    }
    .write(&mut out);
    // responseFlags (AwaitCapable), cursorID, startingFrom, numberReturned.
    out.extend_from_slice(&8i32.to_le_bytes());
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    body.to_writer(&mut out)
        .map_err(|error| CommandError::new(codes::INTERNAL_ERROR, error.to_string()))?;
    finish_message(out)
}

fn finish_message(mut out: Vec<u8>) -> CommandResult<Vec<u8>> {
    let length = i32::try_from(out.len())
        .ok()
        .filter(|length| *length <= MAX_MESSAGE_SIZE_BYTES)
        .ok_or_else(|| {
            CommandError::new(
                codes::BSON_OBJECT_TOO_LARGE,
                format!("reply of {} bytes exceeds maxMessageSizeBytes", out.len()),
            )
        })?;
    out[..4].copy_from_slice(&length.to_le_bytes());
    Ok(out)
}

/// The encoded size of a document, computed without serialising it (batches are cut at 16 MiB).
pub fn document_size(document: &Document) -> usize {
    let mut size = 5;
    for (key, value) in document {
        size += 1 + key.len() + 1 + value_size(value);
    }
    size
}

fn value_size(value: &bson::Bson) -> usize {
    use bson::Bson;
    match value {
        Bson::Double(_) | Bson::Int64(_) | Bson::Timestamp(_) | Bson::DateTime(_) => 8,
        Bson::String(text) | Bson::JavaScriptCode(text) | Bson::Symbol(text) => 4 + text.len() + 1,
        Bson::Document(document) => document_size(document),
        Bson::Array(items) => {
            let mut size = 5;
            for (index, item) in items.iter().enumerate() {
                size += 1 + decimal_digits(index) + 1 + value_size(item);
            }
            size
        }
        Bson::Binary(binary) => {
            let extra = if binary.subtype == bson::spec::BinarySubtype::BinaryOld {
                4
            } else {
                0
            };
            4 + 1 + extra + binary.bytes.len()
        }
        Bson::ObjectId(_) => 12,
        Bson::Boolean(_) => 1,
        Bson::Null | Bson::Undefined | Bson::MaxKey | Bson::MinKey => 0,
        Bson::RegularExpression(regex) => regex.pattern.len() + 1 + regex.options.len() + 1,
        Bson::JavaScriptCodeWithScope(code) => {
            4 + 4 + code.code.len() + 1 + document_size(&code.scope)
        }
        Bson::Int32(_) => 4,
        Bson::Decimal128(_) => 16,
        Bson::DbPointer(_) => 4 + 1 + 12,
    }
}

fn decimal_digits(mut number: usize) -> usize {
    let mut digits = 1;
    while number >= 10 {
        number /= 10;
        digits += 1;
    }
    digits
}

fn read_i32(bytes: &[u8], offset: usize) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    i32::from_le_bytes(word)
}

fn invalid_bson(error: impl std::fmt::Display) -> CommandError {
    CommandError::new(codes::INVALID_BSON, format!("invalid BSON: {error}"))
}

fn invalid_message(message: impl Into<String>) -> CommandError {
    CommandError::failed_to_parse(message)
}

/// CRC-32C (Castagnoli), the checksum of OP_MSG's optional trailer.
pub fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc32c_table();
    let mut crc = !0u32;
    for byte in bytes {
        crc = TABLE[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

/// Checks the CRC-32C trailer of an OP_MSG frame that carries one.
pub fn verify_checksum(frame: &Frame) -> CommandResult<()> {
    if frame.header.op_code != OP_MSG || frame.payload.len() < 8 {
        return Ok(());
    }
    let flags = read_i32(&frame.payload, 0) as u32;
    if flags & FLAG_CHECKSUM_PRESENT == 0 {
        return Ok(());
    }
    let mut whole = Vec::with_capacity(MessageHeader::SIZE + frame.payload.len());
    frame.header.write(&mut whole);
    whole.extend_from_slice(&frame.payload);
    let (covered, trailer) = whole.split_at(whole.len() - 4);
    let expected = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32c(covered) != expected {
        return Err(CommandError::new(
            codes::INVALID_BSON,
            "OP_MSG checksum does not match its contents",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn op_msg_frame(flags: u32, sections: &[u8], checksum: bool) -> Frame {
        let mut payload = flags.to_le_bytes().to_vec();
        payload.extend_from_slice(sections);
        let mut header = MessageHeader {
            message_length: (16 + payload.len() + if checksum { 4 } else { 0 }) as i32,
            request_id: 7,
            response_to: 0,
            op_code: OP_MSG,
        };
        if checksum {
            let mut whole = Vec::new();
            header.write(&mut whole);
            whole.extend_from_slice(&payload);
            payload.extend_from_slice(&crc32c(&whole).to_le_bytes());
        }
        header.message_length = (16 + payload.len()) as i32;
        Frame { header, payload }
    }

    fn body_section(document: &Document) -> Vec<u8> {
        let mut bytes = vec![0u8];
        document.to_writer(&mut bytes).unwrap();
        bytes
    }

    fn sequence_section(identifier: &str, documents: &[Document]) -> Vec<u8> {
        let mut contents = identifier.as_bytes().to_vec();
        contents.push(0);
        for document in documents {
            document.to_writer(&mut contents).unwrap();
        }
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&((contents.len() + 4) as i32).to_le_bytes());
        bytes.extend_from_slice(&contents);
        bytes
    }

    #[test]
    fn crc32c_matches_the_castagnoli_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn document_sequences_merge_into_the_body_under_their_identifier() {
        let mut sections = body_section(&doc! {"insert": "c", "$db": "test"});
        sections.extend(sequence_section(
            "documents",
            &[doc! {"a": 1}, doc! {"a": 2}],
        ));
        let frame = op_msg_frame(0, &sections, false);
        let request = decode_request(&frame).unwrap();
        assert_eq!(
            request,
            Request::Message {
                flags: 0,
                body: doc! {"insert": "c", "$db": "test", "documents": [{"a": 1}, {"a": 2}]},
            }
        );
    }

    #[test]
    fn exhaust_allowed_and_checksum_flags_are_accepted() {
        let flags = FLAG_EXHAUST_ALLOWED | FLAG_CHECKSUM_PRESENT;
        let frame = op_msg_frame(flags, &body_section(&doc! {"hello": 1}), true);
        verify_checksum(&frame).unwrap();
        let Request::Message {
            flags: decoded,
            body,
        } = decode_request(&frame).unwrap()
        else {
            panic!("expected OP_MSG");
        };
        assert_eq!(decoded, flags);
        assert_eq!(body, doc! {"hello": 1});
    }

    #[test]
    fn a_wrong_checksum_is_rejected() {
        let mut frame = op_msg_frame(
            FLAG_CHECKSUM_PRESENT,
            &body_section(&doc! {"ping": 1}),
            true,
        );
        let last = frame.payload.len() - 1;
        frame.payload[last] ^= 0xFF;
        assert_eq!(
            verify_checksum(&frame).unwrap_err().code,
            codes::INVALID_BSON
        );
    }

    #[test]
    fn unknown_required_flag_bits_are_refused() {
        let frame = op_msg_frame(1 << 5, &body_section(&doc! {"ping": 1}), false);
        assert_eq!(
            decode_request(&frame).unwrap_err().code,
            codes::FAILED_TO_PARSE
        );
    }

    #[test]
    fn truncated_and_corrupt_bodies_are_invalid_bson() {
        let mut section = body_section(&doc! {"ping": 1, "x": "abc"});
        section.truncate(section.len() - 3);
        let frame = op_msg_frame(0, &section, false);
        assert_eq!(
            decode_request(&frame).unwrap_err().code,
            codes::INVALID_BSON
        );

        // A string whose declared length runs past the end of the document.
        let mut section = body_section(&doc! {"x": "abc"});
        section[1 + 4 + 1 + 2] = 0x7F;
        let frame = op_msg_frame(0, &section, false);
        assert_eq!(
            decode_request(&frame).unwrap_err().code,
            codes::INVALID_BSON
        );
    }

    #[test]
    fn absurd_nesting_is_refused_without_overflowing_the_stack() {
        // 100 000 nested empty documents, encoded by hand from the inside out.
        let mut inner: Vec<u8> = vec![5, 0, 0, 0, 0];
        for _ in 0..100_000 {
            let mut outer = Vec::with_capacity(inner.len() + 8);
            let length = (4 + 1 + 2 + inner.len() + 1) as i32;
            outer.extend_from_slice(&length.to_le_bytes());
            outer.push(0x03);
            outer.extend_from_slice(b"a\0");
            outer.extend_from_slice(&inner);
            outer.push(0);
            inner = outer;
        }
        let error = decode_document(&inner).unwrap_err();
        assert_eq!(error.code, codes::INVALID_BSON);
    }

    #[test]
    fn op_query_handshake_unwraps_dollar_query() {
        let mut payload = 0i32.to_le_bytes().to_vec();
        payload.extend_from_slice(b"admin.$cmd\0");
        payload.extend_from_slice(&0i32.to_le_bytes());
        payload.extend_from_slice(&(-1i32).to_le_bytes());
        doc! {"$query": {"isMaster": 1}, "$readPreference": {"mode": "primary"}}
            .to_writer(&mut payload)
            .unwrap();
        let frame = Frame {
            header: MessageHeader {
                message_length: (16 + payload.len()) as i32,
                request_id: 1,
                response_to: 0,
                op_code: OP_QUERY,
            },
            payload,
        };
        assert_eq!(
            decode_request(&frame).unwrap(),
            Request::Query {
                namespace: "admin.$cmd".to_string(),
                query: doc! {"isMaster": 1},
            }
        );
    }

    #[test]
    fn compressed_messages_are_refused() {
        let frame = Frame {
            header: MessageHeader {
                message_length: 16 + 9,
                request_id: 1,
                response_to: 0,
                op_code: OP_COMPRESSED,
            },
            payload: vec![0; 9],
        };
        assert_eq!(decode_request(&frame).unwrap_err().code, codes::BAD_VALUE);
    }

    #[test]
    fn document_size_equals_the_encoded_length() {
        let document = doc! {
            "_id": bson::oid::ObjectId::new(),
            "s": "héllo",
            "n": [1, 2.5, {"x": null}, [true], bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2, 3] }],
            "d": bson::DateTime::now(),
            "t": bson::Timestamp { time: 1, increment: 2 },
            "l": 5i64,
        };
        assert_eq!(
            document_size(&document),
            bson::to_vec(&document).unwrap().len()
        );
    }

    #[test]
    fn replies_carry_the_total_length_in_their_header() {
        let bytes = encode_op_msg(3, 7, &doc! {"ok": 1.0}).unwrap();
        let mut header = [0u8; 16];
        header.copy_from_slice(&bytes[..16]);
        let header = MessageHeader::parse(&header);
        assert_eq!(header.message_length as usize, bytes.len());
        assert_eq!(header.response_to, 7);
        assert_eq!(header.op_code, OP_MSG);
    }

    fn frame_from(op_code: i32, payload: Vec<u8>) -> Frame {
        Frame {
            header: MessageHeader {
                message_length: (16 + payload.len()) as i32,
                request_id: 1,
                response_to: 0,
                op_code,
            },
            payload,
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_payloads_decode_to_a_request_or_an_error(
            op_code in proptest::prop_oneof![proptest::prelude::Just(OP_MSG), proptest::prelude::Just(OP_QUERY), proptest::prelude::any::<i32>()],
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let frame = frame_from(op_code, payload);
            let _ = verify_checksum(&frame);
            let _ = decode_request(&frame);
        }

        #[test]
        fn corrupting_one_byte_of_a_valid_message_never_panics(
            position in 0usize..200,
            value in proptest::prelude::any::<u8>(),
        ) {
            let mut sections = body_section(&doc! {
                "insert": "c", "ordered": true, "$db": "test",
                "nested": {"a": [1, "two", {"b": 3.5}], "when": bson::DateTime::from_millis(5)},
            });
            sections.extend(sequence_section("documents", &[doc! {"x": 1}, doc! {"y": [null, true]}]));
            let mut payload = 0u32.to_le_bytes().to_vec();
            payload.extend_from_slice(&sections);
            let index = position % payload.len();
            payload[index] = value;
            let frame = frame_from(OP_MSG, payload);
            let _ = decode_request(&frame);
        }
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_unexpected_end_of_stream() {
        let mut bytes = 40i32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(&[1, 2, 3]);
        let mut reader = &bytes[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::Io(_))
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut empty).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_before_reading_the_payload() {
        let mut bytes = (MAX_MESSAGE_SIZE_BYTES + 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 12]);
        let mut reader = &bytes[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::InvalidLength(_))
        ));
    }
}
