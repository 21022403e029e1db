//! Counts the HTTP/2 streams, resets and GOAWAYs of one client connection from the frame headers
//! passing through its stream: the frames read are the client's, the frames written the
//! gateway's. Only the 9-byte frame headers and the 4-byte error codes are looked at, never the
//! rest of a payload, and a frame split across reads or writes is followed across them. h2 itself
//! (Pingora's accept loop, the `[listen.http2]` limits, the reset-flood guard) is untouched: the
//! bytes pass through as they are. Only HTTP/2 connections are wrapped.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pingora::protocols::Stream;
use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::{HTTP2_ERROR_CODES, HTTP2_SIDES, Metrics};

/// The client's connection preface (RFC 9113 §3.4), before its first frame.
const PREFACE_LEN: u8 = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;

/// A frame worth counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent {
    /// HEADERS opening a new client stream (not trailers, not a response).
    Opened,
    /// RST_STREAM, with its error code.
    Reset(u32),
    /// GOAWAY, with its error code.
    GoAway(u32),
}

/// The frames of one direction of a connection, followed across reads or writes. No allocation:
/// a frame header is gathered in place and payloads are skipped by their length.
#[derive(Debug, Clone)]
pub struct FrameScan {
    /// Preface bytes still to pass (the client's side starts with 24).
    preface: u8,
    header: [u8; FRAME_HEADER_LEN],
    /// Bytes of `header` gathered so far.
    have: usize,
    /// Payload bytes of the current frame still to pass.
    left: u32,
    /// Payload bytes of the current frame passed so far.
    at: u32,
    /// The error code being read from the current frame's payload.
    code: Option<Code>,
    /// Whether HEADERS on a new odd-numbered stream opens it (the client's side).
    opens: bool,
    /// The highest stream id the client opened.
    highest: u32,
}

/// An error code being read from a RST_STREAM (at offset 0) or GOAWAY (at 4) payload.
#[derive(Debug, Clone, Copy)]
struct Code {
    offset: u32,
    value: u32,
    got: u8,
    goaway: bool,
}

impl FrameScan {
    /// The frames a client sends, after its preface.
    pub fn client() -> Self {
        Self::new(PREFACE_LEN, true)
    }

    /// The frames the gateway sends (no preface; its streams are the client's).
    pub fn gateway() -> Self {
        Self::new(0, false)
    }

    fn new(preface: u8, opens: bool) -> Self {
        Self {
            preface,
            header: [0; FRAME_HEADER_LEN],
            have: 0,
            left: 0,
            at: 0,
            code: None,
            opens,
            highest: 0,
        }
    }

    /// Follows `bytes`, the next ones of this direction, calling `on` for each counted frame.
    pub fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(FrameEvent)) {
        while !bytes.is_empty() {
            if self.preface > 0 {
                let n = bytes.len().min(usize::from(self.preface));
                self.preface -= n as u8;
                bytes = &bytes[n..];
            } else if self.left > 0 {
                let n = bytes.len().min(self.left as usize);
                let (payload, rest) = bytes.split_at(n);
                self.read_code(payload, &mut on);
                self.at += n as u32;
                self.left -= n as u32;
                bytes = rest;
            } else {
                let n = bytes.len().min(FRAME_HEADER_LEN - self.have);
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have == FRAME_HEADER_LEN {
                    self.have = 0;
                    self.start_frame(&mut on);
                }
            }
        }
    }

    fn start_frame(&mut self, on: &mut impl FnMut(FrameEvent)) {
        let h = self.header;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        self.left = len;
        self.at = 0;
        let code = |offset, goaway| {
            Some(Code {
                offset,
                value: 0,
                got: 0,
                goaway,
            })
        };
        self.code = match h[3] {
            HEADERS => {
                // Client streams are odd and rise; a lower id is trailers (or a protocol error).
                if self.opens && stream % 2 == 1 && stream > self.highest {
                    self.highest = stream;
                    on(FrameEvent::Opened);
                }
                None
            }
            RST_STREAM => code(0, false),
            GOAWAY => code(4, true),
            _ => None,
        };
    }

    /// Takes the error code's bytes from `payload`, which starts at `self.at` in the payload.
    fn read_code(&mut self, payload: &[u8], on: &mut impl FnMut(FrameEvent)) {
        let Some(code) = &mut self.code else {
            return;
        };
        let from = code.offset.saturating_sub(self.at) as usize;
        let to = ((code.offset + 4).saturating_sub(self.at) as usize).min(payload.len());
        if from < to {
            for &b in &payload[from..to] {
                code.value = (code.value << 8) | u32::from(b);
                code.got += 1;
            }
        }
        if code.got == 4 {
            on(if code.goaway {
                FrameEvent::GoAway(code.value)
            } else {
                FrameEvent::Reset(code.value)
            });
            self.code = None;
        }
    }
}

/// Who sent a frame: the `by` label, in `HTTP2_SIDES` order.
#[derive(Debug, Clone, Copy)]
enum Side {
    Client = 0,
    Gateway = 1,
}

type ByReason = [[IntCounter; HTTP2_ERROR_CODES.len()]; HTTP2_SIDES.len()];

/// The counters one listener's HTTP/2 connections add to, their labels resolved once.
pub struct H2Counters {
    streams: IntCounter,
    resets: ByReason,
    goaways: ByReason,
}

impl H2Counters {
    /// For a listener of `transport` (`tls` or `plain`).
    pub fn new(metrics: &Metrics, transport: &str) -> Self {
        let by_reason = |family: &prometheus::IntCounterVec| -> ByReason {
            std::array::from_fn(|side| {
                std::array::from_fn(|reason| {
                    family.with_label_values(&[HTTP2_SIDES[side], HTTP2_ERROR_CODES[reason]])
                })
            })
        };
        Self {
            streams: metrics.http2_streams.with_label_values(&[transport]),
            resets: by_reason(&metrics.http2_resets),
            goaways: by_reason(&metrics.http2_goaways),
        }
    }

    fn count(&self, side: Side, event: FrameEvent) {
        // Codes past the known ones share the last label (`other`).
        let reason = |code: u32| (code as usize).min(HTTP2_ERROR_CODES.len() - 1);
        match event {
            FrameEvent::Opened => self.streams.inc(),
            FrameEvent::Reset(code) => self.resets[side as usize][reason(code)].inc(),
            FrameEvent::GoAway(code) => self.goaways[side as usize][reason(code)].inc(),
        }
    }
}

/// An HTTP/2 client connection's stream, counting its frames as they pass.
pub struct H2Watch {
    inner: Stream,
    counters: Arc<H2Counters>,
    read: FrameScan,
    written: FrameScan,
}

impl H2Watch {
    pub fn new(inner: Stream, counters: Arc<H2Counters>) -> Self {
        Self {
            inner,
            counters,
            read: FrameScan::client(),
            written: FrameScan::gateway(),
        }
    }

    /// Follows `bytes`, the next ones written to the client.
    fn on_written(&mut self, bytes: &[u8]) {
        let counters = &self.counters;
        self.written
            .feed(bytes, |event| counters.count(Side::Gateway, event));
    }
}

impl AsyncRead for H2Watch {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let counters = &this.counters;
            this.read.feed(&buf.filled()[before..], |event| {
                counters.count(Side::Client, event)
            });
        }
        polled
    }
}

impl AsyncWrite for H2Watch {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.on_written(&buf[..n]);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = polled {
            // The first `n` bytes were written, slice by slice.
            for buf in bufs {
                if n == 0 {
                    break;
                }
                let take = n.min(buf.len());
                self.on_written(&buf[..take]);
                n -= take;
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

crate::stream_wrap::delegate_stream_facts!(H2Watch);

impl fmt::Debug for H2Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Watch")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameEvent, FrameScan, H2Counters, Side};
    use crate::metrics::Metrics;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const CANCEL: u32 = 0x8;
    const ENHANCE_YOUR_CALM: u32 = 0xb;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn goaway(last: u32, code: u32, debug: &[u8]) -> Vec<u8> {
        let mut payload = last.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(debug);
        frame(0x7, 0, 0, &payload)
    }

    /// What `scan` reports for `bytes` fed in chunks of `chunk` bytes.
    fn events(mut scan: FrameScan, bytes: &[u8], chunk: usize) -> Vec<FrameEvent> {
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            scan.feed(piece, |event| out.push(event));
        }
        out
    }

    /// A client's side: preface, settings, two requests (one with trailers, one with a body
    /// whose bytes look like frames), a reset, a GOAWAY.
    fn client_bytes() -> Vec<u8> {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        bytes.extend(frame(0x1, 0x4, 1, b"\x82\x86\x84"));
        // DATA whose payload is a RST_STREAM frame and a HEADERS frame: skipped, not counted.
        let mut fake = frame(0x3, 0, 1, &CANCEL.to_be_bytes());
        fake.extend(frame(0x1, 0x4, 99, b"\x82"));
        bytes.extend(frame(0x0, 0, 1, &fake));
        bytes.extend(frame(0x1, 0x5, 1, b"\x40")); // trailers on stream 1: not a new stream
        bytes.extend(frame(0x1, 0x4, 3, b"\x82\x86\x84"));
        bytes.extend(frame(0x3, 0, 3, &CANCEL.to_be_bytes()));
        bytes.extend(frame(0x8, 0, 0, &[0, 0, 1, 0])); // WINDOW_UPDATE
        bytes.extend(goaway(0, 0, b"bye"));
        bytes
    }

    #[test]
    fn client_streams_resets_and_goaways_are_counted_however_the_bytes_are_split() {
        let bytes = client_bytes();
        let expected = vec![
            FrameEvent::Opened,
            FrameEvent::Opened,
            FrameEvent::Reset(CANCEL),
            FrameEvent::GoAway(0),
        ];
        for chunk in [1, 2, 3, 5, 7, 9, 10, 13, 24, 33, 64, bytes.len()] {
            assert_eq!(
                events(FrameScan::client(), &bytes, chunk),
                expected,
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn the_gateway_side_has_no_preface_and_opens_no_streams() {
        let mut bytes = frame(0x4, 0, 0, &[]);
        bytes.extend(frame(0x1, 0x4, 1, b"\x88")); // a response's HEADERS
        bytes.extend(frame(0x3, 0, 3, &0x7u32.to_be_bytes())); // REFUSED_STREAM
        bytes.extend(goaway(7, ENHANCE_YOUR_CALM, b"too many resets"));
        for chunk in [1, 4, 8, 11, bytes.len()] {
            assert_eq!(
                events(FrameScan::gateway(), &bytes, chunk),
                vec![
                    FrameEvent::Reset(0x7),
                    FrameEvent::GoAway(ENHANCE_YOUR_CALM)
                ],
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_frame_too_short_for_its_code_counts_nothing_and_the_next_one_still_does() {
        let mut bytes = frame(0x3, 0, 1, &[0, 0]); // malformed: h2 answers it, we skip it
        bytes.extend(frame(0x3, 0, 3, &CANCEL.to_be_bytes()));
        assert_eq!(
            events(FrameScan::gateway(), &bytes, 1),
            vec![FrameEvent::Reset(CANCEL)]
        );
    }

    #[test]
    fn codes_land_on_their_label_and_unknown_ones_on_other() {
        let metrics = Metrics::new().expect("metrics");
        let counters = H2Counters::new(&metrics, "plain");
        counters.count(Side::Gateway, FrameEvent::GoAway(ENHANCE_YOUR_CALM));
        counters.count(Side::Client, FrameEvent::Reset(CANCEL));
        counters.count(Side::Client, FrameEvent::Reset(0x99));
        counters.count(Side::Client, FrameEvent::Opened);
        let value = |family: &prometheus::IntCounterVec, labels: &[&str]| {
            family.with_label_values(labels).get()
        };
        assert_eq!(
            value(&metrics.http2_goaways, &["gateway", "enhance_your_calm"]),
            1
        );
        assert_eq!(
            value(&metrics.http2_goaways, &["client", "enhance_your_calm"]),
            0
        );
        assert_eq!(value(&metrics.http2_resets, &["client", "cancel"]), 1);
        assert_eq!(value(&metrics.http2_resets, &["client", "other"]), 1);
        assert_eq!(value(&metrics.http2_streams, &["plain"]), 1);
        assert_eq!(value(&metrics.http2_streams, &["tls"]), 0);
    }
}
