//! `exec_python` and `exec_shell`: programs run in the [`Sandbox`], never through a shell.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::ToolOutput;
use crate::sandbox::{ExecOutcome, ExecRequest, Sandbox};

/// Characters and sequences that would mean something to a shell. No shell ever runs, so
/// they would be passed as literal arguments; refusing them tells the model so plainly
/// instead of letting `echo x; rm -rf /` look like it did two things.
const SHELL_META: &[&str] = &[";", "|", "&", "`", "$(", "${", "<", ">", "\n", "\r"];

/// Run Python code (`{"code": …, "stdin"?: …}`) as `python3 -I main.py` in the sandbox.
pub async fn exec_python(
    sandbox: &Sandbox,
    args: &Map<String, Value>,
    timeout: Duration,
) -> ToolOutput {
    let Some(code) = args.get("code").and_then(Value::as_str) else {
        return ToolOutput::error("exec_python needs a string argument `code`");
    };
    run_python(
        sandbox,
        code,
        args.get("stdin").and_then(Value::as_str),
        timeout,
    )
    .await
}

/// Run `code` with Python in the sandbox (also used to auto-run fenced code blocks).
pub async fn run_python(
    sandbox: &Sandbox,
    code: &str,
    stdin: Option<&str>,
    timeout: Duration,
) -> ToolOutput {
    let req = ExecRequest {
        program: "python3".into(),
        args: vec!["-I".into(), "main.py".into()],
        files: vec![("main.py".into(), code.to_string())],
        stdin: stdin.map(str::to_string),
        timeout,
    };
    run(sandbox, req).await
}

/// Run one allowlisted program (`{"command": "ls -la"}` or `{"argv": ["ls", "-la"]}`).
pub async fn exec_shell(
    sandbox: &Sandbox,
    allowlist: &[String],
    args: &Map<String, Value>,
    timeout: Duration,
) -> ToolOutput {
    let argv = match parse_argv(args) {
        Ok(argv) => argv,
        Err(msg) => return ToolOutput::error(msg),
    };
    if let Err(msg) = check_allowed(&argv, allowlist) {
        return ToolOutput::error(msg);
    }
    let req = ExecRequest {
        program: argv[0].clone(),
        args: argv[1..].to_vec(),
        timeout,
        ..ExecRequest::default()
    };
    run(sandbox, req).await
}

/// The argv of an `exec_shell` call, split like a shell would split words (quotes and
/// escapes), refusing shell metacharacters.
pub fn parse_argv(args: &Map<String, Value>) -> Result<Vec<String>, String> {
    let argv = if let Some(list) = args.get("argv").and_then(Value::as_array) {
        let words: Option<Vec<String>> = list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect();
        let words = words.ok_or("exec_shell `argv` must be a list of strings")?;
        for w in &words {
            refuse_meta(w)?;
        }
        words
    } else if let Some(command) = args.get("command").and_then(Value::as_str) {
        refuse_meta(command)?;
        shlex::split(command)
            .ok_or("exec_shell `command` has an unbalanced quote or a trailing escape")?
    } else {
        return Err("exec_shell needs a string argument `command` (or a list `argv`)".into());
    };
    if argv.is_empty() || argv[0].is_empty() {
        return Err("exec_shell got an empty command".into());
    }
    Ok(argv)
}

fn refuse_meta(text: &str) -> Result<(), String> {
    match SHELL_META.iter().find(|m| text.contains(**m)) {
        Some(m) => Err(format!(
            "refused: `{}` is shell syntax, and exec_shell runs exactly one program without a \
             shell (no pipes, redirects, `;`, `&&` or substitutions); make one call per program",
            m.escape_debug()
        )),
        None => Ok(()),
    }
}

/// Check the program name against the allowlist, by exact name.
pub fn check_allowed(argv: &[String], allowlist: &[String]) -> Result<(), String> {
    let program = argv.first().map(String::as_str).unwrap_or("");
    if allowlist.iter().any(|a| a == program) {
        return Ok(());
    }
    Err(format!(
        "refused: program `{program}` is not on the exec_shell allowlist (allowed, by exact \
         name: {})",
        allowlist.join(", ")
    ))
}

async fn run(sandbox: &Sandbox, req: ExecRequest) -> ToolOutput {
    let program = req.program.clone();
    match sandbox.run(req).await {
        Ok(outcome) => from_outcome(&outcome),
        Err(e) => ToolOutput::error(format!("{program}: {e}")),
    }
}

fn from_outcome(o: &ExecOutcome) -> ToolOutput {
    let mut body = json!({
        "exit_code": o.exit_code,
        "timed_out": o.timed_out,
        "stdout": o.stdout,
        "stderr": o.stderr,
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(sig) = o.signal {
            map.insert("signal".into(), json!(sig));
        }
        if o.stdout_truncated {
            map.insert("stdout_truncated".into(), json!(true));
        }
        if o.stderr_truncated {
            map.insert("stderr_truncated".into(), json!(true));
        }
    }
    let content = serde_json::to_string(&body).unwrap_or_default();
    ToolOutput {
        ok: o.success(),
        content,
        detail: serde_json::to_value(o).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(c: &str) -> Map<String, Value> {
        json!({ "command": c })
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            parse_argv(&cmd("grep -n 'a b' \"c d\"")).unwrap(),
            vec!["grep", "-n", "a b", "c d"]
        );
    }

    #[test]
    fn refuses_shell_syntax() {
        for bad in [
            "echo x; rm -rf /",
            "ls | wc",
            "ls && rm x",
            "echo `id`",
            "echo $(id)",
            "cat </etc/passwd",
            "ls > f",
            "a\nb",
        ] {
            let err = parse_argv(&cmd(bad)).unwrap_err();
            assert!(err.starts_with("refused"), "{bad}: {err}");
        }
        let argv = json!({ "argv": ["echo", "x;y"] })
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(parse_argv(&argv).is_err());
    }

    #[test]
    fn allowlist_is_by_exact_name() {
        let allow = vec!["ls".to_string()];
        assert!(check_allowed(&["ls".into()], &allow).is_ok());
        for bad in ["/bin/ls", "ls2", "LS", "rm"] {
            assert!(check_allowed(&[bad.into()], &allow).is_err(), "{bad}");
        }
    }
}
