//! The daemon's HTTP endpoint on `listen`: the routes (`GET /healthz`,
//! `GET /metrics`, `POST /webhook/github`, `POST /webhook/gitlab`, and the
//! timeline pages `GET /` and `GET /repo/<name>` of [`super::page`]), the
//! HTTP/1 framing (hyper), and the bounds every request is held to: time to
//! send the head and the body, and the body's size.
//!
//! Routing is one `match` on (method, path) in [`Endpoint::route`]: a new
//! route is one arm there, plus its path in the arm answering 405.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::health::Health;
use super::page::Pages;
use super::webhook::{Forge, Webhooks};
use crate::forge::Cancel;

/// The largest request body accepted (a webhook's JSON): 1 MiB. GitHub caps
/// payloads at 25 MB, but a push to a packaging repository (a few commits,
/// their messages and file lists) is a few kilobytes; a push too large for
/// the cap is answered 413 and caught by the next poll, as without webhooks.
pub const MAX_BODY: usize = 1024 * 1024;

/// Bodies read at the same time: with [`MAX_BODY`], at most 16 MiB buffered
/// whatever the number of connections.
const BODIES_AT_ONCE: usize = 16;

/// Time a client has to send its request head, then its body: GitHub and
/// GitLab send both at once; a client that trickles is cut off.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a route answers.
pub type Reply = Response<Full<Bytes>>;

/// Everything the routes read.
pub struct Endpoint {
    health: Arc<Health>,
    webhooks: Option<Webhooks>,
    bodies: Semaphore,
    pages: Option<Arc<Pages>>,
}

impl Endpoint {
    /// The endpoint; the webhook routes answer 404 without `webhooks` (no
    /// secret configured).
    pub fn new(health: Arc<Health>, webhooks: Option<Webhooks>) -> Endpoint {
        Endpoint {
            health,
            webhooks,
            bodies: Semaphore::new(BODIES_AT_ONCE),
            pages: None,
        }
    }

    /// Also serves the timeline pages (`GET /`, `GET /repo/<name>`).
    pub fn with_pages(mut self, pages: Pages) -> Endpoint {
        self.pages = Some(Arc::new(pages));
        self
    }

    /// Answers one request.
    pub async fn route(&self, request: Request<Incoming>) -> Reply {
        let path = request.uri().path().to_owned();
        match (request.method().clone(), path.as_str()) {
            (Method::GET, "/healthz") => {
                let (healthy, doc) = self.health.healthz();
                let status = if healthy {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                reply(status, "application/json", doc)
            }
            (Method::GET, "/metrics") => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.health.prometheus(),
            ),
            (Method::POST, "/webhook/github") => self.webhook(Forge::Github, request).await,
            (Method::POST, "/webhook/gitlab") => self.webhook(Forge::Gitlab, request).await,
            (Method::GET, p) if p == "/" || p.starts_with("/repo/") => match &self.pages {
                Some(pages) => pages.clone().answer(p).await,
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            },
            (_, "/healthz" | "/metrics" | "/") => not_allowed("GET"),
            (_, "/webhook/github" | "/webhook/gitlab") => not_allowed("POST"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// A forge's push event: its body read within the bounds, then handed
    /// to [`Webhooks::receive`].
    async fn webhook(&self, forge: Forge, request: Request<Incoming>) -> Reply {
        let Some(webhooks) = &self.webhooks else {
            return text(
                StatusCode::NOT_FOUND,
                "webhooks are off: set webhook_secret_env or webhook_secret_file\n",
            );
        };
        let (head, body) = request.into_parts();
        let body = match self.read_body(&head.headers, body).await {
            Ok(body) => body,
            Err(refused) => {
                webhooks.refused(forge, refused.status());
                return refused;
            }
        };
        let outcome = webhooks.receive(forge, &head.headers, &body);
        text(outcome.status(), &outcome.message())
    }

    /// The body, or the answer refusing it: 413 past [`MAX_BODY`] (told by
    /// `Content-Length` before anything is read, or by counting a chunked
    /// body), 408 when it does not arrive within [`BODY_TIMEOUT`].
    async fn read_body(&self, headers: &hyper::HeaderMap, body: Incoming) -> Result<Bytes, Reply> {
        let too_large = || {
            text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body over {MAX_BODY} bytes\n"),
            )
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let timeout = || text(StatusCode::REQUEST_TIMEOUT, "body not received in time\n");
        let read = async {
            let _permit = self.bodies.acquire().await.expect("semaphore open");
            Limited::new(body, MAX_BODY).collect().await
        };
        match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Ok(Err(_)) => Err(text(StatusCode::BAD_REQUEST, "body not read\n")),
            Err(_) => Err(timeout()),
        }
    }
}

/// Serves until shutdown, one task per connection. Connections are not kept
/// alive (forges open one per delivery), so shutdown waits for nothing.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>, cancel: Cancel) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(connection(stream, peer, endpoint.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "http endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, endpoint: Arc<Endpoint>) {
    let service = hyper::service::service_fn(move |request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, Infallible>(endpoint.route(request).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "http endpoint: connection failed");
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: &str) -> Reply {
    reply(status, "text/plain; charset=utf-8", body.to_owned())
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("only {allow} here\n"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}
