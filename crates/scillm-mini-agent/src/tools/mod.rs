//! The tools the agent offers the model: `exec_python`, `exec_shell`, `echo`, and those of
//! an optional HTTP tool server.

pub mod exec;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::sandbox::Sandbox;
pub use http::{HttpToolDef, HttpTools};

/// Names of the built-in tools.
pub const BUILTIN_TOOLS: &[&str] = &["exec_python", "exec_shell", "echo"];

/// The result of one tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Whether the tool did its job (exit code 0, HTTP 2xx, valid arguments…).
    pub ok: bool,
    /// What the model sees in the tool reply.
    pub content: String,
    /// Structured details for traces and the `mini_agent` object.
    pub detail: Option<Value>,
}

impl ToolOutput {
    /// A failed call whose reply to the model is `message`.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            content: format!("error: {}", message.into()),
            detail: None,
        }
    }

    /// A successful call answering `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            content: text.into(),
            detail: None,
        }
    }
}

/// Where the tool calls of a run go (the Python original's `tool_backend`, SPEC §15).
#[derive(Debug, Clone, Default)]
pub enum ToolBackend {
    /// The built-in tools, plus the configured HTTP tool server if any (`local`).
    #[default]
    Local,
    /// The built-in tools plus this HTTP tool server's (`http`).
    Http(Arc<HttpTools>),
    /// The built-in tools' definitions, but every call is answered with its own arguments
    /// and nothing runs (`echo`).
    Echo,
}

/// The tools one run offers, fixed when it starts.
#[derive(Debug, Clone, Default)]
pub struct RunTools {
    http: Option<Arc<HttpTools>>,
    http_defs: Vec<HttpToolDef>,
    echo: bool,
}

impl RunTools {
    /// The HTTP tools on offer.
    pub fn http_defs(&self) -> &[HttpToolDef] {
        &self.http_defs
    }
}

/// The tools and what they need to run.
#[derive(Debug, Clone)]
pub struct Toolbox {
    sandbox: Arc<Sandbox>,
    allowlist: Vec<String>,
    timeout: Duration,
    http: Option<Arc<HttpTools>>,
}

impl Toolbox {
    /// Tools running in `sandbox`, each call limited to `timeout`.
    pub fn new(sandbox: Arc<Sandbox>, allowlist: Vec<String>, timeout: Duration) -> Self {
        Self {
            sandbox,
            allowlist,
            timeout,
            http: None,
        }
    }

    /// Also offer the tools of an HTTP tool server.
    pub fn with_http(mut self, http: Arc<HttpTools>) -> Self {
        self.http = Some(http);
        self
    }

    /// The sandbox the exec tools use.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The configured HTTP tool server, if any.
    pub fn http(&self) -> Option<&Arc<HttpTools>> {
        self.http.as_ref()
    }

    /// The tools a run with `backend` offers (the HTTP tool list comes from the cache).
    pub async fn for_run(&self, backend: &ToolBackend) -> RunTools {
        let (http, echo) = match backend {
            ToolBackend::Local => (self.http.clone(), false),
            ToolBackend::Http(h) => (Some(Arc::clone(h)), false),
            ToolBackend::Echo => (None, true),
        };
        let http_defs = match &http {
            Some(h) => Self::usable(h.list().await),
            None => Vec::new(),
        };
        RunTools {
            http,
            http_defs,
            echo,
        }
    }

    fn usable(defs: Vec<HttpToolDef>) -> Vec<HttpToolDef> {
        defs.into_iter()
            .filter(|d| {
                let clash = BUILTIN_TOOLS.contains(&d.name.as_str());
                if clash {
                    tracing::warn!(tool = %d.name, "HTTP tool shadows a built-in tool; ignored");
                }
                !clash
            })
            .collect()
    }

    /// OpenAI tool definitions for the built-in tools and `http_tools`.
    pub fn definitions(&self, http_tools: &[HttpToolDef]) -> Vec<Value> {
        let mut defs = vec![
            function(
                "exec_python",
                "Run Python 3 code in a sandbox (fresh temporary directory, no network, no \
                 secrets, time and memory limits). Print what you need: the reply has \
                 exit_code, stdout and stderr.",
                json!({
                    "type": "object",
                    "properties": {
                        "code": { "type": "string", "description": "The Python program." },
                        "stdin": { "type": "string", "description": "Optional standard input." }
                    },
                    "required": ["code"]
                }),
            ),
            function(
                "exec_shell",
                &format!(
                    "Run one program with arguments in the sandbox, without a shell (no pipes, \
                     redirects, `;`, `&&` or substitutions). Allowed programs: {}.",
                    self.allowlist.join(", ")
                ),
                json!({
                    "type": "object",
                    "properties": {
                        "command": { "type": "string", "description": "Program and arguments, e.g. `ls -la`." }
                    },
                    "required": ["command"]
                }),
            ),
            function(
                "echo",
                "Return the given text unchanged.",
                json!({
                    "type": "object",
                    "properties": { "text": { "type": "string" } },
                    "required": ["text"]
                }),
            ),
        ];
        defs.extend(
            http_tools
                .iter()
                .map(|d| function(&d.name, &d.description, d.parameters.clone())),
        );
        defs
    }

    /// Run the tool `name` with parsed `args` as `run` says. Unknown names get an error
    /// reply. Counted in `scillm_mini_agent_tool_calls_total{tool,outcome}`.
    pub async fn call(&self, name: &str, args: &Map<String, Value>, run: &RunTools) -> ToolOutput {
        let output = self.dispatch(name, args, run).await;
        let label = match BUILTIN_TOOLS.iter().find(|t| **t == name) {
            Some(builtin) => builtin,
            None if run.http_defs().iter().any(|d| d.name == name) => "http",
            None => "unknown",
        };
        scillm_telemetry::record::mini_agent_tool_call(label, output.ok);
        output
    }

    async fn dispatch(&self, name: &str, args: &Map<String, Value>, run: &RunTools) -> ToolOutput {
        let http_tools = run.http_defs();
        let known = BUILTIN_TOOLS.contains(&name) || http_tools.iter().any(|d| d.name == name);
        if run.echo && known {
            return ToolOutput::text(Value::Object(args.clone()).to_string());
        }
        match name {
            "exec_python" => exec::exec_python(&self.sandbox, args, self.timeout).await,
            "exec_shell" => {
                exec::exec_shell(&self.sandbox, &self.allowlist, args, self.timeout).await
            }
            "echo" => match args.get("text") {
                Some(Value::String(s)) => ToolOutput::text(s.clone()),
                Some(other) => ToolOutput::text(other.to_string()),
                None => ToolOutput::error("echo needs an argument `text`"),
            },
            _ => match &run.http {
                Some(h) if http_tools.iter().any(|d| d.name == name) => {
                    h.invoke(name, args, self.timeout).await
                }
                _ => {
                    let mut names: Vec<&str> = BUILTIN_TOOLS.to_vec();
                    names.extend(http_tools.iter().map(|d| d.name.as_str()));
                    ToolOutput::error(format!(
                        "unknown tool `{name}`; available tools: {}",
                        names.join(", ")
                    ))
                }
            },
        }
    }
}

fn function(name: &str, description: &str, parameters: Value) -> Value {
    json!({
        "type": "function",
        "function": { "name": name, "description": description, "parameters": parameters }
    })
}
