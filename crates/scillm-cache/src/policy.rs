//! Which requests the cache serves (SPEC §18) and the per-request directives (LiteLLM's
//! `"cache": {"no-cache": true, "no-store": true}`).

use scillm_core::config::CacheConfig;
use scillm_core::wire::ChatRequest;
use serde_json::Value;

use crate::key::CacheKey;

/// The request field holding the directives.
pub const DIRECTIVES_FIELD: &str = "cache";

/// Per-request directives, LiteLLM's form: `"cache": {"no-cache": true}` answers from the
/// upstream even when an entry exists (the fresh answer is still stored, as in LiteLLM);
/// `"no-store": true` does not store the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheDirectives {
    /// Do not answer from the cache.
    pub no_cache: bool,
    /// Do not store the answer.
    pub no_store: bool,
}

impl CacheDirectives {
    /// The directives of `request`, removed from it: they are for this gateway, and an
    /// upstream such as OpenAI refuses a parameter it does not know.
    pub fn take(request: &mut ChatRequest) -> Self {
        let found = Self::of(request);
        request.extra.remove(DIRECTIVES_FIELD);
        found
    }

    /// The directives of `request` (absent or malformed → none).
    pub fn of(request: &ChatRequest) -> Self {
        let Some(Value::Object(map)) = request.extra.get(DIRECTIVES_FIELD) else {
            return Self::default();
        };
        let flag = |name: &str| map.get(name).and_then(Value::as_bool).unwrap_or(false);
        Self {
            no_cache: flag("no-cache"),
            no_store: flag("no-store"),
        }
    }
}

/// Why a request does not use the cache (the `reason` label of
/// `scillm_cache_skipped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A streamed request while `cache_stream` is off.
    Stream,
    /// `temperature > 0` while `cache_nondeterministic` is off.
    Nondeterministic,
    /// `"cache": {"no-cache": true, "no-store": true}`.
    Directive,
}

impl SkipReason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Stream => "stream",
            SkipReason::Nondeterministic => "nondeterministic",
            SkipReason::Directive => "directive",
        }
    }
}

/// How one request uses the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachePlan {
    /// Look up and/or store under `key`.
    Use {
        /// The request's key.
        key: CacheKey,
        /// Answer from an entry when there is one.
        read: bool,
        /// Store a successful answer.
        write: bool,
    },
    /// Leave the cache alone.
    Skip(SkipReason),
}

/// The eligibility rules of `[cache]` (SPEC §18).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheRules {
    /// Streamed requests use the cache too.
    pub cache_stream: bool,
    /// Requests with `temperature > 0` use the cache too.
    pub cache_nondeterministic: bool,
}

impl From<&CacheConfig> for CacheRules {
    fn from(c: &CacheConfig) -> Self {
        Self {
            cache_stream: c.cache_stream,
            cache_nondeterministic: c.cache_nondeterministic,
        }
    }
}

impl CacheRules {
    /// How `request` (with `directives` already taken from it) uses the cache. A request
    /// without `temperature` is judged by what it sends, as SPEC §18 words the rule:
    /// only an explicit `temperature > 0` is nondeterministic.
    pub fn plan(&self, request: &ChatRequest, directives: CacheDirectives) -> CachePlan {
        if request.is_stream() && !self.cache_stream {
            return CachePlan::Skip(SkipReason::Stream);
        }
        let hot = request
            .temperature
            .as_ref()
            .and_then(|t| t.as_f64())
            .is_some_and(|t| t > 0.0);
        if hot && !self.cache_nondeterministic {
            return CachePlan::Skip(SkipReason::Nondeterministic);
        }
        if directives.no_cache && directives.no_store {
            return CachePlan::Skip(SkipReason::Directive);
        }
        CachePlan::Use {
            key: CacheKey::for_request(request),
            read: !directives.no_cache,
            write: !directives.no_store,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> Value {
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn temperature_above_zero_is_skipped_unless_allowed() {
        let mut v = base();
        v["temperature"] = serde_json::json!(0.7);
        let r = req(v);
        let rules = CacheRules::default();
        assert_eq!(
            rules.plan(&r, CacheDirectives::default()),
            CachePlan::Skip(SkipReason::Nondeterministic)
        );
        let allow = CacheRules {
            cache_nondeterministic: true,
            ..rules
        };
        assert!(matches!(
            allow.plan(&r, CacheDirectives::default()),
            CachePlan::Use {
                read: true,
                write: true,
                ..
            }
        ));
        let mut v = base();
        v["temperature"] = serde_json::json!(0);
        assert!(matches!(
            rules.plan(&req(v), CacheDirectives::default()),
            CachePlan::Use { .. }
        ));
    }

    #[test]
    fn streams_are_skipped_unless_allowed() {
        let mut v = base();
        v["stream"] = serde_json::json!(true);
        let r = req(v);
        assert_eq!(
            CacheRules::default().plan(&r, CacheDirectives::default()),
            CachePlan::Skip(SkipReason::Stream)
        );
        let allow = CacheRules {
            cache_stream: true,
            ..Default::default()
        };
        // Same key as the plain request: a stream replays what a plain call stored.
        assert_eq!(
            allow.plan(&r, CacheDirectives::default()),
            CachePlan::Use {
                key: CacheKey::for_request(&req(base())),
                read: true,
                write: true
            }
        );
    }

    #[test]
    fn directives_are_read_and_removed() {
        let mut v = base();
        v["cache"] = serde_json::json!({"no-cache": true});
        let mut r = req(v);
        let d = CacheDirectives::take(&mut r);
        assert_eq!(
            d,
            CacheDirectives {
                no_cache: true,
                no_store: false
            }
        );
        assert!(!r.extra.contains_key("cache"));
        assert!(matches!(
            CacheRules::default().plan(&r, d),
            CachePlan::Use {
                read: false,
                write: true,
                ..
            }
        ));
        let both = CacheDirectives {
            no_cache: true,
            no_store: true,
        };
        assert_eq!(
            CacheRules::default().plan(&r, both),
            CachePlan::Skip(SkipReason::Directive)
        );
        let mut v = base();
        v["cache"] = serde_json::json!("nonsense");
        assert_eq!(CacheDirectives::of(&req(v)), CacheDirectives::default());
    }
}
