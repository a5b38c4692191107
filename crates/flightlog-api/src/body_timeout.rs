//! Answers 408 when a request body stalls: no byte arrives for `after`.
//!
//! Why: a client can send headers promising a body and then send nothing,
//! holding a connection and a handler forever (hyper's own timeout covers
//! only the headers). The clock restarts at every chunk, so a large upload
//! on a slow link is fine as long as it keeps moving; a whole-request
//! deadline would cut off long exports and big ingests instead.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The state of [`guard`]: how long a body may go without a byte.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

/// The middleware: `router.layer(from_fn_with_state(BodyTimeout(..), guard))`.
pub async fn guard(State(BodyTimeout(after)): State<BodyTimeout>, request: Request, next: Next) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let watch = stalled.clone();
    let request = request.map(|inner| Body::new(Watched { inner, after, deadline: None, stalled: watch }));
    let response = next.run(request).await;
    if !stalled.load(Ordering::Relaxed) {
        return response;
    }
    // Whatever the handler made of the broken body, the client is told why;
    // the connection is closed, since the rest of the body never came.
    tracing::info!(after_s = after.as_secs(), "request body stalled; answering 408");
    let message = format!("the request body stalled: no data for {} s", after.as_secs());
    let mut response = crate::error::ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", message).into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request body, failing once no frame has come for `after`.
struct Watched {
    inner: Body,
    after: Duration,
    /// Set at the first read, so time the handler spends before it reads
    /// the body does not count.
    deadline: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let after = this.after;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                deadline.as_mut().reset(Instant::now() + after);
                Poll::Ready(frame)
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                this.stalled.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new("the request body stalled"))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
