//! The tower layer that counts a batch call's items as its body arrives,
//! and ends the body with INVALID_ARGUMENT naming `limits.max_batch_messages`
//! as soon as there are more, before the message is decoded. Without it a
//! batch of empty items would be decoded whole first: two bytes on the wire
//! each, a few hundred in memory, so a 16 MiB request could take gigabytes.
//!
//! The count reads only the protobuf framing: the gRPC message header, then
//! each top-level field's tag and length, counting field 1 (the items of
//! `SendBatchRequest` and `AckBatchRequest`) and skipping every value.

use bytes::Bytes;
use tonic::Status;

use super::checked_body::{FrameCheck, MakeCheck};

/// The batch calls, each with the name of its items' field.
const BATCH_CALLS: &[(&str, &str)] = &[
    ("/schakel.v1.Exchange/SendBatch", "messages"),
    ("/schakel.v1.Exchange/AckBatch", "message_ids"),
];

/// Where the counter is in the stream of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the 5-byte gRPC message header; `got` bytes of it so far,
    /// the length gathered in `len`.
    Header { got: u8, len: u32 },
    /// Reading a field's tag varint.
    Tag { value: u64, shift: u32 },
    /// Reading a length-delimited field's length varint.
    Length { value: u64, shift: u32 },
    /// Reading a varint value, to skip it.
    Varint,
    /// Skipping this many bytes of a value.
    Skip(u64),
    /// The framing is not what a batch request looks like: counting stops,
    /// and the decoder reports what is wrong.
    Done,
}

/// Counts the top-level field-1 entries of the gRPC messages in a body.
#[derive(Debug, Clone)]
pub struct ItemCounter {
    state: State,
    /// Bytes left of the current message.
    left: u64,
    items: u64,
    max: u64,
}

impl ItemCounter {
    /// A counter that refuses more than `max` items.
    pub fn new(max: u32) -> Self {
        Self {
            state: State::Header { got: 0, len: 0 },
            left: 0,
            items: 0,
            max: u64::from(max),
        }
    }

    /// The items counted so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Reads `bytes`; false once there are more items than allowed.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Done => return true,
                State::Header { got, len } => {
                    let len = if got >= 1 {
                        (len << 8) | u32::from(bytes[i])
                    } else {
                        len
                    };
                    i += 1;
                    self.state = if got == 4 {
                        self.left = u64::from(len);
                        self.next_field()
                    } else {
                        State::Header { got: got + 1, len }
                    };
                    continue;
                }
                State::Skip(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.left = self.left.saturating_sub(take);
                    self.state = if take == n {
                        self.next_field()
                    } else {
                        State::Skip(n - take)
                    };
                    continue;
                }
                State::Tag { .. } | State::Length { .. } | State::Varint => {}
            }
            let b = bytes[i];
            i += 1;
            self.left = self.left.saturating_sub(1);
            let more = b & 0x80 != 0;
            self.state = match self.state {
                State::Varint if more => State::Varint,
                State::Varint => self.next_field(),
                State::Tag { shift, .. } | State::Length { shift, .. } if shift > 63 => State::Done,
                State::Tag { value, shift } => {
                    let value = value | (u64::from(b & 0x7f) << shift);
                    if more {
                        State::Tag {
                            value,
                            shift: shift + 7,
                        }
                    } else {
                        if value >> 3 == 1 {
                            self.items += 1;
                            if self.items > self.max {
                                return false;
                            }
                        }
                        match value & 7 {
                            0 => State::Varint,
                            1 => State::Skip(8),
                            2 => State::Length { value: 0, shift: 0 },
                            5 => State::Skip(4),
                            _ => State::Done,
                        }
                    }
                }
                State::Length { value, shift } => {
                    let value = value | (u64::from(b & 0x7f) << shift);
                    if more {
                        State::Length {
                            value,
                            shift: shift + 7,
                        }
                    } else if value == 0 {
                        self.next_field()
                    } else {
                        State::Skip(value)
                    }
                }
                other => other,
            };
        }
        true
    }

    /// After a value: the next field, or the next message's header.
    fn next_field(&self) -> State {
        if self.left == 0 {
            State::Header { got: 0, len: 0 }
        } else {
            State::Tag { value: 0, shift: 0 }
        }
    }
}

/// Makes the item count of each batch call's body: the layer is a
/// [`CheckedBodyLayer`](super::checked_body::CheckedBodyLayer) over it.
#[derive(Clone)]
pub struct BatchBound {
    max: u32,
}

impl BatchBound {
    /// Batches of at most `max` items.
    pub fn new(max: u32) -> Self {
        Self { max }
    }
}

impl MakeCheck for BatchBound {
    type Check = Items;

    fn make<B>(&self, req: &http::Request<B>) -> Items {
        let counted = BATCH_CALLS
            .iter()
            .find(|(path, _)| *path == req.uri().path())
            .map(|(_, field)| (*field, ItemCounter::new(self.max)));
        Items {
            counted,
            max: self.max,
        }
    }
}

/// The check of a batch call's body (for any other call, none).
pub struct Items {
    /// For a batch call: its items' field and the counter.
    counted: Option<(&'static str, ItemCounter)>,
    max: u32,
}

impl FrameCheck for Items {
    fn check(&mut self, data: &Bytes) -> Result<(), Status> {
        let Some((field, counter)) = &mut self.counted else {
            return Ok(());
        };
        if counter.feed(data) {
            return Ok(());
        }
        Err(Status::invalid_argument(format!(
            "{field}: holds more than {max} items; at most {max} (limits.max_batch_messages) in one call: split it",
            max = self.max
        )))
    }
}

#[cfg(test)]
mod tests {
    use schakel_proto::v1 as pb;

    use super::*;

    /// `message` as a gRPC frame: flag, length, bytes.
    fn framed(message: &impl prost::Message) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn send_batch(n: usize) -> pb::SendBatchRequest {
        pb::SendBatchRequest {
            messages: (0..n)
                .map(|i| pb::SendRequest {
                    client_reference: format!("ref-{i}"),
                    recipient_oin: "00000099600000000001".into(),
                    payload: vec![7; i * 300],
                    expires_at: Some(prost_types::Timestamp {
                        seconds: 1_800_000_000,
                        nanos: 5,
                    }),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn items_are_counted_whatever_the_chunks() {
        let bytes = framed(&send_batch(40));
        for chunk in [1, 2, 3, 7, 64, 1000, bytes.len()] {
            let mut counter = ItemCounter::new(40);
            for piece in bytes.chunks(chunk) {
                assert!(counter.feed(piece), "chunks of {chunk}");
            }
            assert_eq!(counter.items(), 40, "chunks of {chunk}");
        }
        let ids = pb::AckBatchRequest {
            message_ids: vec![String::new(); 300],
        };
        let mut counter = ItemCounter::new(1000);
        assert!(counter.feed(&framed(&ids)));
        assert_eq!(counter.items(), 300);
    }

    #[test]
    fn one_item_over_the_limit_is_refused_as_it_arrives() {
        let bytes = framed(&pb::AckBatchRequest {
            message_ids: vec![String::new(); 11],
        });
        let mut counter = ItemCounter::new(10);
        // Header, then ten empty ids of two bytes each: still within.
        assert!(counter.feed(&bytes[..5 + 20]));
        assert!(!counter.feed(&bytes[25..]));
    }

    #[test]
    fn framing_that_is_no_batch_stops_the_count_and_leaves_it_to_the_decoder() {
        // Wire type 3 (a group) does not occur in a batch request; what
        // follows it is not counted.
        let mut counter = ItemCounter::new(1);
        assert!(counter.feed(&[0, 0, 0, 0, 9, 0x13, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00]));
        assert_eq!(counter.items(), 0);
    }
}
