//! The sandbox the exec tools run in: secrets, writes outside the working directory,
//! timeouts that leave no process behind, output caps, rlimits, the exec_shell allowlist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::Duration;

use scillm_mini_agent::sandbox::{group_gone, DEFAULT_OUTPUT_CAP};
use scillm_mini_agent::{ExecRequest, Rlimits, Sandbox, Toolbox};
use serde_json::{json, Value};

async fn sandbox() -> Sandbox {
    let sb = Sandbox::detect(Rlimits::default(), DEFAULT_OUTPUT_CAP).await;
    if std::env::var("SCILLM_REQUIRE_BWRAP").as_deref() == Ok("1") {
        assert!(
            sb.uses_bwrap(),
            "SCILLM_REQUIRE_BWRAP=1 but bubblewrap is not usable here"
        );
    }
    sb
}

async fn python(sb: &Sandbox, code: &str, timeout: Duration) -> scillm_mini_agent::ExecOutcome {
    sb.run(ExecRequest {
        program: "python3".into(),
        args: vec!["-I".into(), "main.py".into()],
        files: vec![("main.py".into(), code.into())],
        timeout,
        ..ExecRequest::default()
    })
    .await
    .unwrap()
}

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_secret_in_the_server_environment_is_not_visible_to_a_tool() {
    std::env::set_var("SCILLM_MA_TEST_SECRET", "s3cr3t-value-xyz");
    let sb = sandbox().await;
    let code = format!(
        "import os\nprint(sorted(os.environ))\nprint(os.environ.get('SCILLM_MA_TEST_SECRET'))\n\
         try:\n    print(open('/proc/{}/environ','rb').read())\nexcept Exception as e:\n    print('proc-denied', type(e).__name__)\n",
        std::process::id()
    );
    let out = python(&sb, &code, T).await;
    assert!(out.success(), "{out:?}");
    if sb.uses_bwrap() {
        assert!(!out.stdout.contains("s3cr3t-value-xyz"), "{}", out.stdout);
        assert!(out.stdout.contains("proc-denied"), "{}", out.stdout);
    } else {
        // Without a pid namespace a same-user tool can read /proc/<server>/environ: that
        // is the documented limitation; the environment itself is still cleared.
        let env_line = out.stdout.lines().nth(1).unwrap_or("");
        assert_eq!(env_line, "None", "{}", out.stdout);
    }
    assert!(out.stdout.lines().next().unwrap_or("").contains("'HOME'"));
}

#[tokio::test]
async fn the_working_directory_is_fresh_and_removed_afterwards() {
    let sb = sandbox().await;
    let out = python(&sb, "import os\nopen('f.txt','w').write('x')\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))", T).await;
    assert!(out.success(), "{out:?}");
    let mut lines = out.stdout.lines();
    let cwd = lines.next().unwrap().to_string();
    assert!(cwd.contains("scillm-mini-agent-"), "{cwd}");
    assert_eq!(lines.next().unwrap(), "['f.txt', 'main.py']");
    assert!(
        !std::path::Path::new(&cwd).exists(),
        "{cwd} was not removed"
    );
}

#[tokio::test]
async fn a_tool_cannot_write_outside_its_working_directory() {
    let sb = sandbox().await;
    if !sb.uses_bwrap() {
        println!("skipped: bubblewrap is not usable here, so writes outside the working directory are not prevented (reported by /healthz)");
        return;
    }
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let target = outside.path().join("pwned.txt");
    let code = format!(
        "import os\nfor p in [{:?}, '/etc/scillm-pwned', os.path.expanduser('~/../pwned'), '/tmp/pwned']:\n    try:\n        open(p,'w').write('x')\n        print('WROTE', p)\n    except OSError as e:\n        print('denied', p, e.errno)\n",
        target.display().to_string()
    );
    let out = python(&sb, &code, T).await;
    assert!(out.success(), "{out:?}");
    assert!(!out.stdout.contains("WROTE"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("denied").count(), 4, "{}", out.stdout);
    assert!(!target.exists());
    assert!(!std::path::Path::new("/etc/scillm-pwned").exists());
}

#[tokio::test]
async fn a_tool_has_no_network_when_bubblewrap_is_available() {
    let sb = sandbox().await;
    if !sb.uses_bwrap() {
        println!("skipped: no bubblewrap, so no network namespace");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', e)\n"
    );
    let out = python(&sb, &code, T).await;
    assert!(out.stdout.contains("blocked"), "{out:?}");
}

#[tokio::test]
async fn a_tool_is_killed_at_its_timeout_and_leaves_no_process() {
    let sb = sandbox().await;
    // A child and a grandchild that would outlive the tool if only the direct child died.
    let code = "import subprocess, time\nsubprocess.Popen(['python3','-c','import subprocess,time; subprocess.Popen([\"sleep\",\"300\"]); time.sleep(300)'])\nprint('started', flush=True)\ntime.sleep(300)\n";
    let out = python(&sb, code, Duration::from_secs(2)).await;
    assert!(out.timed_out, "{out:?}");
    assert!(!out.success());
    assert_eq!(out.stdout.trim(), "started");
    assert!(out.pgid > 1);
    assert!(out.group_gone, "{out:?}");
    assert!(
        group_gone(out.pgid),
        "process group {} still has members",
        out.pgid
    );
}

#[tokio::test]
async fn output_is_capped_with_a_truncated_flag() {
    let sb = Sandbox::detect(Rlimits::default(), 1000).await;
    let out = python(
        &sb,
        "import sys\nsys.stdout.write('a'*100000)\nsys.stderr.write('b'*10)",
        T,
    )
    .await;
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout.len(), 1000);
    assert!(!out.stderr_truncated);
    assert_eq!(out.stderr, "b".repeat(10));
}

#[tokio::test]
async fn file_size_and_memory_limits_apply() {
    let limits = Rlimits {
        memory_bytes: Some(512 * 1024 * 1024),
        file_size_bytes: Some(1024 * 1024),
        ..Rlimits::default()
    };
    let sb = Sandbox::detect(limits, DEFAULT_OUTPUT_CAP).await;
    let code = "import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\ntry:\n    open('big','wb').write(b'x'*(4*1024*1024))\n    print('WROTE')\nexcept OSError as e:\n    print('fsize', e.errno)\ntry:\n    b = bytearray(2*1024*1024*1024)\n    print('ALLOCATED')\nexcept MemoryError:\n    print('memory')\n";
    let out = python(&sb, code, T).await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        vec!["fsize 27", "memory"],
        "{out:?}"
    );
}

fn toolbox(sb: Sandbox) -> Toolbox {
    Toolbox::new(Arc::new(sb), vec!["echo".into(), "ls".into()], T)
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn exec_shell_refuses_programs_off_the_allowlist_and_shell_syntax() {
    let tb = toolbox(sandbox().await);
    let out = tb
        .call("exec_shell", &args(json!({"command": "rm -rf /"})), &[])
        .await;
    assert!(!out.ok);
    assert!(
        out.content.contains("not on the exec_shell allowlist"),
        "{}",
        out.content
    );
    let out = tb
        .call(
            "exec_shell",
            &args(json!({"command": "echo x; rm -rf /"})),
            &[],
        )
        .await;
    assert!(!out.ok);
    assert!(out.content.contains("refused"), "{}", out.content);
    let out = tb
        .call("exec_shell", &args(json!({"command": "/bin/echo hi"})), &[])
        .await;
    assert!(!out.ok, "a path is not the allowlisted name");
    let out = tb
        .call(
            "exec_shell",
            &args(json!({"command": "echo 'hello world'"})),
            &[],
        )
        .await;
    assert!(out.ok, "{}", out.content);
    let v: Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(v["stdout"], "hello world\n");
    assert_eq!(v["exit_code"], 0);
}

#[tokio::test]
async fn without_bubblewrap_env_is_cleared_limits_apply_and_timeouts_leave_no_process() {
    std::env::set_var("SCILLM_MA_TEST_SECRET", "s3cr3t-value-xyz");
    let sb = Sandbox::without_bwrap(Rlimits::default(), DEFAULT_OUTPUT_CAP);
    assert!(!sb.protections().network_isolated);
    assert!(!sb.protections().limitations.is_empty());
    let out = python(&sb, "import os, resource\nprint(os.environ.get('SCILLM_MA_TEST_SECRET'))\nprint(resource.getrlimit(resource.RLIMIT_FSIZE)[0])\nprint(os.environ['HOME'] == os.getcwd())", T).await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        vec!["None", &(16 * 1024 * 1024).to_string(), "True"],
        "{out:?}"
    );
    let out = python(
        &sb,
        "import subprocess, time\nsubprocess.Popen(['sleep','300'])\ntime.sleep(300)\n",
        Duration::from_secs(1),
    )
    .await;
    assert!(out.timed_out);
    assert!(out.group_gone && group_gone(out.pgid), "{out:?}");
}

#[tokio::test]
async fn the_server_home_is_hidden_from_tools_when_bubblewrap_is_available() {
    let sb = sandbox().await;
    let Some(home) = std::env::var("HOME")
        .ok()
        .filter(|h| h.len() > 1 && std::path::Path::new(h).is_dir())
    else {
        println!("skipped: no HOME directory");
        return;
    };
    if !sb.uses_bwrap() {
        println!("skipped: no bubblewrap, so the server's home is readable (reported by /healthz)");
        return;
    }
    assert!(sb.protections().masked_paths.contains(&home));
    let code = format!("import os\nprint(os.listdir({home:?}))\ntry:\n    open(os.path.join({home:?}, 'x'), 'w')\n    print('WROTE')\nexcept OSError as e:\n    print('denied', e.errno)\n");
    let out = python(&sb, &code, T).await;
    assert_eq!(out.stdout, "[]\ndenied 30\n", "{out:?}");
}
