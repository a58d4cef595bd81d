//! A fake Kubernetes API server: a [`tower::Service`] under a real [`kube::Client`], holding
//! objects in memory and answering the requests the reconcilers make, the way the API server
//! does where it matters to them:
//!
//! - `GET` of one object (404 `NotFound` when absent), and a plain list of a namespace's objects;
//! - `POST` to a collection (201; 409 `AlreadyExists`), `PUT` of an object (409 `Conflict` when
//!   the body's resourceVersion isn't the stored one); writes to the main resource never change
//!   the status, and an object being deleted goes when its last finalizer does;
//! - `PATCH …/status` as server-side apply (`application/apply-patch+yaml`, `fieldManager`
//!   required): 409 when the applied `metadata.resourceVersion` isn't the stored one, otherwise
//!   the status is replaced (the operator is the only manager of status), the resourceVersion
//!   bumped and the object returned;
//! - `PATCH` of an object as a JSON merge patch (finalizers, metadata), with the same
//!   resourceVersion precondition; a changed `spec` bumps `metadata.generation`.
//!
//! Every request is recorded (method, path, query, body) for tests to assert on. Anything else
//! (filtered or paged lists, watches, deletes, other patch types) is answered 405 and recorded too, so a test that
//! checks the request log notices it. Tests seed and change objects directly ([`ApiServer::seed`]
//! keeps a seeded status, as if written earlier; [`ApiServer::modify`], [`ApiServer::delete`]),
//! without a request in the log.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use kube::{Resource, ResourceExt, client::Body};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// One request as the fake API server received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The raw query string (empty when none).
    pub(crate) query: String,
    pub(crate) content_type: Option<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub(crate) body: Value,
    /// The status code answered.
    pub(crate) status: u16,
    /// When, on the timeline Graph calls share ([`super::next_seq`]).
    pub(crate) seq: u64,
}

impl Recorded {
    /// The query's parameters, decoded.
    pub(crate) fn params(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// A status write (`PATCH …/status`).
    pub(crate) fn is_status_write(&self) -> bool {
        self.method == Method::PATCH && self.path.ends_with("/status")
    }

    /// Anything but a read.
    pub(crate) fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

#[derive(Default)]
struct State {
    /// Objects by path (`/api…/namespaces/{ns}/{plural}/{name}`).
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    /// The last resourceVersion handed out (one counter for every object, like etcd's).
    revision: u64,
}

impl State {
    fn next_version(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }
}

/// The fake API server; clones share the same objects and request log.
#[derive(Clone, Default)]
pub(crate) struct ApiServer {
    state: Arc<Mutex<State>>,
}

fn locked(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of one object of kind `K`.
fn object_path<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> String {
    format!("{}/{name}", K::url_path(&(), Some(namespace)))
}

/// What a request path names.
enum Target {
    Collection { path: String, namespace: String },
    Object { path: String },
    Status { object: String },
}

fn target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `api/v1/…` or `apis/{group}/{version}/…`, then `namespaces/{ns}/{plural}[/{name}[/status]]`.
    let prefix = match segments.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return None,
    };
    let rest = segments.get(prefix..)?;
    if rest.first() != Some(&"namespaces") {
        return None;
    }
    let join = |n: usize| format!("/{}", segments[..prefix + n].join("/"));
    match rest.len() {
        3 => Some(Target::Collection {
            path: join(3),
            namespace: rest[1].to_string(),
        }),
        4 => Some(Target::Object { path: join(4) }),
        5 if rest[4] == "status" => Some(Target::Status { object: join(4) }),
        _ => None,
    }
}

/// An answer: a JSON body with its status code.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    /// A `Status` object, as the API server answers errors.
    fn failure(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message.into(),
                "reason": reason,
                "code": status.as_u16(),
            }),
        }
    }

    fn not_found(path: &str) -> Self {
        Self::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{path} not found"),
        )
    }

    fn conflict(path: &str, sent: &str, stored: &str) -> Self {
        Self::failure(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {path}: the object has been modified; please apply your changes to the latest version and try again (sent resourceVersion {sent}, stored {stored})"
            ),
        )
    }
}

fn resource_version(v: &Value) -> Option<&str> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(target) = target else {
        return;
    };
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

impl State {
    /// Store a new object under `collection` (what `POST` does).
    fn create(&mut self, collection: &str, namespace: &str, mut obj: Value) -> Answer {
        let Some(name) = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Answer::failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "metadata.name: Required value",
            );
        };
        let path = format!("{collection}/{name}");
        if self.objects.contains_key(&path) {
            return Answer::failure(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!("{path} already exists"),
            );
        }
        let version = self.next_version();
        let has_spec = obj.get("spec").is_some();
        let meta = &mut obj["metadata"];
        meta["namespace"] = json!(namespace);
        meta["resourceVersion"] = json!(version);
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(jiff::Timestamp::now().round(jiff::Unit::Second).ok());
        if has_spec {
            meta["generation"] = json!(1);
        }
        self.objects.insert(path, obj.clone());
        Answer {
            status: StatusCode::CREATED,
            body: obj,
        }
    }

    /// Store `next` as the new version of the object at `path`, written through the main
    /// resource: the status and the fields only the server sets are kept, a changed spec is a
    /// new generation, and an object being deleted goes once its last finalizer has.
    fn replace(&mut self, path: &str, mut next: Value) -> Answer {
        let Some(stored) = self.objects.get(path) else {
            return Answer::not_found(path);
        };
        for k in [
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
        ] {
            match stored["metadata"].get(k) {
                Some(v) => next["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = next["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        match stored.get("status") {
            Some(st) => next["status"] = st.clone(),
            None => {
                if let Some(o) = next.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        if next.get("spec") != stored.get("spec") {
            let generation = stored["metadata"]["generation"].as_i64().unwrap_or(0);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        next["metadata"]["resourceVersion"] = json!(self.next_version());
        let finalized = next["metadata"]
            .get("finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if next["metadata"].get("deletionTimestamp").is_some() && finalized {
            self.objects.remove(path);
        } else {
            self.objects.insert(path.to_string(), next.clone());
        }
        Answer::ok(next)
    }

    fn handle(
        &mut self,
        method: &Method,
        path: &str,
        query: &BTreeMap<String, String>,
        content_type: Option<&str>,
        body: &Value,
    ) -> Answer {
        let not_allowed = || {
            Answer::failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("the fake API server does not serve {method} {path}"),
            )
        };
        let Some(target) = target(path) else {
            return not_allowed();
        };
        match (method, target) {
            (&Method::GET, Target::Object { path }) => match self.objects.get(&path) {
                Some(o) => Answer::ok(o.clone()),
                None => Answer::not_found(&path),
            },
            // A plain list of one namespace's objects of a kind (no selectors, no paging).
            (&Method::GET, Target::Collection { path, .. }) => {
                let prefix = format!("{path}/");
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                    .map(|(_, o)| o.clone())
                    .collect();
                Answer::ok(json!({
                    "apiVersion": "v1",
                    "kind": "List",
                    "metadata": {"resourceVersion": self.revision.to_string()},
                    "items": items,
                }))
            }
            (&Method::POST, Target::Collection { path, namespace }) => {
                // Status is written through its subresource only.
                let mut obj = body.clone();
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
                self.create(&path, &namespace, obj)
            }
            (&Method::PUT, Target::Object { path }) => {
                let Some(stored) = self.objects.get(&path) else {
                    return Answer::not_found(&path);
                };
                let stored_version = resource_version(stored).unwrap_or_default().to_string();
                if let Some(sent) = resource_version(body)
                    && sent != stored_version
                {
                    return Answer::conflict(&path, sent, &stored_version);
                }
                self.replace(&path, body.clone())
            }
            (&Method::PATCH, Target::Status { object }) => {
                if content_type != Some("application/apply-patch+yaml") {
                    return Answer::failure(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        format!("the fake API server applies status only (got {content_type:?})"),
                    );
                }
                if !query.contains_key("fieldManager") {
                    return Answer::failure(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    );
                }
                let version = self.revision + 1;
                let Some(stored) = self.objects.get_mut(&object) else {
                    return Answer::not_found(&object);
                };
                let stored_version = resource_version(stored).unwrap_or_default().to_string();
                if let Some(sent) = resource_version(body)
                    && sent != stored_version
                {
                    return Answer::conflict(&object, sent, &stored_version);
                }
                stored["status"] = body.get("status").cloned().unwrap_or(Value::Null);
                stored["metadata"]["resourceVersion"] = json!(version.to_string());
                let written = stored.clone();
                self.revision = version;
                Answer::ok(written)
            }
            (&Method::PATCH, Target::Object { path }) => {
                if content_type != Some("application/merge-patch+json") {
                    return Answer::failure(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        format!("the fake API server merges only (got {content_type:?})"),
                    );
                }
                let Some(stored) = self.objects.get(&path) else {
                    return Answer::not_found(&path);
                };
                let stored_version = resource_version(stored).unwrap_or_default().to_string();
                if let Some(sent) = resource_version(body)
                    && sent != stored_version
                {
                    return Answer::conflict(&path, sent, &stored_version);
                }
                let mut next = stored.clone();
                merge(&mut next, body);
                self.replace(&path, next)
            }
            _ => not_allowed(),
        }
    }
}

impl ApiServer {
    /// A `kube::Client` whose every request this server answers. Call inside a tokio runtime.
    pub(crate) fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Store `obj` as if created through the API (namespace, uid, resourceVersion, generation
    /// filled in), without recording a request; returns it as stored.
    pub(crate) fn seed<K>(&self, obj: &K) -> K
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let ns = obj.namespace().expect("a namespaced object");
        let body = serde_json::to_value(obj).expect("serializable object");
        let answer = locked(&self.state).create(&K::url_path(&(), Some(&ns)), &ns, body);
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "seeding {}: {}",
            obj.name_any(),
            answer.body
        );
        serde_json::from_value(answer.body).expect("the stored object")
    }

    /// The stored object, if any.
    pub(crate) fn get<K>(&self, namespace: &str, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let state = locked(&self.state);
        let v = state.objects.get(&object_path::<K>(namespace, name))?;
        Some(serde_json::from_value(v.clone()).expect("a stored object of that kind"))
    }

    /// Change a stored object as another client would (a user, another controller): `patch` is
    /// merged in and the resourceVersion bumped (and the generation, when the spec changes).
    pub(crate) fn modify<K>(&self, namespace: &str, name: &str, patch: Value) -> K
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let path = object_path::<K>(namespace, name);
        let mut state = locked(&self.state);
        let mut patch = patch;
        // Unconditional, like a plain `kubectl patch`.
        if let Some(meta) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        let answer = state.handle(
            &Method::PATCH,
            &path,
            &BTreeMap::new(),
            Some("application/merge-patch+json"),
            &patch,
        );
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        serde_json::from_value(answer.body).expect("the stored object")
    }

    /// Delete a stored object as a user would: with finalizers it only gets a
    /// deletionTimestamp (and a new resourceVersion) until they are removed.
    pub(crate) fn delete<K>(&self, namespace: &str, name: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let path = object_path::<K>(namespace, name);
        let mut state = locked(&self.state);
        let version = state.next_version();
        let Some(stored) = state.objects.get_mut(&path) else {
            panic!("{path} is not stored");
        };
        let finalizers = stored["metadata"]
            .get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if finalizers {
            stored["metadata"]["deletionTimestamp"] =
                json!(jiff::Timestamp::now().round(jiff::Unit::Second).ok());
            stored["metadata"]["resourceVersion"] = json!(version);
        } else {
            state.objects.remove(&path);
        }
    }

    /// Every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        locked(&self.state).requests.clone()
    }

    /// Forget the requests received so far (objects stay).
    pub(crate) fn clear_requests(&self) {
        locked(&self.state).requests.clear();
    }

    /// Every stored object whose path starts with `prefix`.
    pub(crate) fn objects_under(&self, prefix: &str) -> Vec<Value> {
        locked(&self.state)
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl tower::Service<Request<Body>> for ApiServer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let path = parts.uri.path().to_string();
            let query = parts.uri.query().unwrap_or_default().to_string();
            let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut state = locked(&state);
            let answer = state.handle(
                &parts.method,
                &path,
                &params,
                content_type.as_deref(),
                &body,
            );
            state.requests.push(Recorded {
                method: parts.method,
                path,
                query,
                content_type,
                body,
                status: answer.status.as_u16(),
                seq: super::next_seq(),
            });
            drop(state);
            let response = Response::builder()
                .status(answer.status)
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::to_vec(&answer.body).unwrap_or_default(),
                ))
                .expect("a valid response");
            Ok(response)
        })
    }
}
