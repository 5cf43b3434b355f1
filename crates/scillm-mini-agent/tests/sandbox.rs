//! The sandbox the exec tools run in (SPEC §15). These tests need a working bubblewrap and
//! fail without one — they never skip: the sandbox's guarantees are what they check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use scillm_mini_agent::sandbox::{bwrap, INSTALL_HINT};
use scillm_mini_agent::{
    ExecOutcome, ExecRequest, Isolation, IsolationPolicy, Rlimits, Sandbox, SandboxSettings,
    Toolbox,
};
use serde_json::{json, Value};
use support::{marker, processes_with};

const T: Duration = Duration::from_secs(30);

/// The bubblewrap sandbox; panics (never skips) when bubblewrap does not work here.
async fn sandbox_with(settings: SandboxSettings) -> Sandbox {
    let sb = Sandbox::detect(settings, &IsolationPolicy::from_env(false)).await;
    assert!(
        sb.uses_bwrap(),
        "bubblewrap is required for the sandbox tests and does not work here ({:?}); {INSTALL_HINT}",
        sb.isolation()
    );
    sb
}

async fn sandbox() -> Sandbox {
    sandbox_with(SandboxSettings::default()).await
}

async fn python(sb: &Sandbox, code: &str, timeout: Duration) -> ExecOutcome {
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
    assert!(!out.stdout.contains("s3cr3t-value-xyz"), "{}", out.stdout);
    assert!(out.stdout.contains("proc-denied"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().nth(1), Some("None"), "{}", out.stdout);
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
async fn only_the_allowlisted_filesystem_is_visible_and_only_the_work_dir_is_writable() {
    let sb = sandbox().await;
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(outside.path().join("visible.txt"), "host file").unwrap();
    let code = format!(
        "import os\n\
         print(sorted(os.listdir('/')))\n\
         for p in [{outside:?}, '/etc/passwd', '/etc/hostname', '/root', '/home', '/work', '/var', '/opt']:\n    print(p, os.path.exists(p))\n\
         print('usr', os.path.exists('/usr/bin/python3'))\n\
         for p in [{target:?}, '/usr/scillm-pwned', '/tmp/ok.txt']:\n    try:\n        open(p,'w').write('x')\n        print('WROTE', p)\n    except OSError as e:\n        print('denied', p, e.errno)\n",
        outside = outside.path().display().to_string(),
        target = outside.path().join("pwned.txt").display().to_string(),
    );
    let out = python(&sb, &code, T).await;
    assert!(out.success(), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let root: Vec<String> = serde_json::from_str(&lines[0].replace('\'', "\"")).unwrap();
    for forbidden in [
        "etc/passwd",
        "root",
        "home",
        "work",
        "var",
        "opt",
        "srv",
        "mnt",
    ] {
        assert!(
            !root.contains(&forbidden.to_string()),
            "/ lists {forbidden}: {root:?}"
        );
    }
    for line in &lines[1..9] {
        assert!(line.ends_with(" False"), "visible in the sandbox: {line}");
    }
    assert_eq!(lines[9], "usr True");
    assert!(
        out.stdout.contains("denied /usr/scillm-pwned"),
        "{}",
        out.stdout
    );
    assert!(!out
        .stdout
        .contains(&format!("WROTE {}", outside.path().display())));
    // The private /tmp is writable, and private.
    assert!(out.stdout.contains("WROTE /tmp/ok.txt"), "{}", out.stdout);
    assert!(!std::path::Path::new("/tmp/ok.txt").exists());
    assert!(!outside.path().join("pwned.txt").exists());
}

#[tokio::test]
async fn a_tool_has_no_network() {
    let sb = sandbox().await;
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
    let m = marker();
    // A child and a grandchild that would outlive the tool if only the direct child died.
    let code = format!("import subprocess, time\nsubprocess.Popen(['python3','-c','import subprocess,time; subprocess.Popen([\"sleep\",\"{m}\"]); time.sleep(300)'])\nprint('started', flush=True)\ntime.sleep(300)\n");
    let out = python(&sb, &code, Duration::from_secs(3)).await;
    assert!(out.timed_out, "{out:?}");
    assert!(!out.success());
    assert_eq!(out.stdout.trim(), "started");
    assert_eq!(
        processes_with(&m),
        Vec::<u32>::new(),
        "the sleep outlived the tool"
    );
}

#[tokio::test]
async fn a_double_forked_setsid_process_is_gone_after_the_run() {
    let sb = sandbox().await;
    let m = marker();
    let code = format!(
        "import os, subprocess\n\
         if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        subprocess.Popen(['sleep', '{m}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n    os._exit(0)\n\
         os.wait()\nprint('parent done', flush=True)\n"
    );
    let out = python(&sb, &code, T).await;
    assert!(out.success(), "{out:?}");
    assert!(!out.timed_out);
    assert_eq!(
        processes_with(&m),
        Vec::<u32>::new(),
        "an escaped sleep survived the run"
    );
}

#[tokio::test]
async fn a_fork_bomb_is_stopped_by_the_process_limit() {
    let sb = sandbox_with(SandboxSettings {
        max_processes: 16,
        ..SandboxSettings::default()
    })
    .await;
    let code = "import os, time\nn = 0\nfor i in range(500):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        print('limited', n, e.errno, flush=True)\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    n += 1\nelse:\n    print('UNLIMITED', n)\n";
    let out = python(&sb, code, T).await;
    assert!(out.stdout.starts_with("limited "), "{out:?}");
    let forked: u32 = out
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(forked < 16, "{out:?}");
    // The sandbox (and this process) still work afterwards.
    let again = python(&sb, "print('alive')", T).await;
    assert_eq!(again.stdout, "alive\n", "{again:?}");
}

#[tokio::test]
async fn output_is_capped_with_a_truncated_flag() {
    let sb = sandbox_with(SandboxSettings {
        output_cap: 1000,
        ..SandboxSettings::default()
    })
    .await;
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
    let sb = sandbox_with(SandboxSettings {
        limits: Rlimits {
            memory_bytes: Some(512 * 1024 * 1024),
            file_size_bytes: Some(1024 * 1024),
            ..Rlimits::default()
        },
        ..SandboxSettings::default()
    })
    .await;
    let code = "import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\ntry:\n    open('big','wb').write(b'x'*(4*1024*1024))\n    print('WROTE')\nexcept OSError as e:\n    print('fsize', e.errno)\ntry:\n    b = bytearray(2*1024*1024*1024)\n    print('ALLOCATED')\nexcept MemoryError:\n    print('memory')\n";
    let out = python(&sb, code, T).await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        vec!["fsize 27", "memory"],
        "{out:?}"
    );
}

#[tokio::test]
async fn exec_shell_refuses_programs_off_the_allowlist_and_shell_syntax() {
    let tb = Toolbox::new(
        Arc::new(sandbox().await),
        vec!["echo".into(), "ls".into()],
        T,
    );
    let run = Default::default();
    let args = |v: Value| v.as_object().cloned().unwrap();
    let out = tb
        .call("exec_shell", &args(json!({"command": "rm -rf /"})), &run)
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
            &run,
        )
        .await;
    assert!(!out.ok);
    assert!(out.content.contains("refused"), "{}", out.content);
    let out = tb
        .call(
            "exec_shell",
            &args(json!({"command": "/bin/echo hi"})),
            &run,
        )
        .await;
    assert!(!out.ok, "a path is not the allowlisted name");
    let out = tb
        .call(
            "exec_shell",
            &args(json!({"command": "echo 'hello world'"})),
            &run,
        )
        .await;
    assert!(out.ok, "{}", out.content);
    let v: Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(v["stdout"], "hello world\n");
    assert_eq!(v["exit_code"], 0);
}

fn no_bwrap(allow_unsandboxed: bool) -> IsolationPolicy {
    IsolationPolicy {
        search_path: "/nonexistent-scillm-test".into(),
        allow_unsandboxed,
    }
}

#[tokio::test]
async fn without_bubblewrap_exec_tools_are_refused_with_the_install_hint() {
    let sb = Sandbox::detect(SandboxSettings::default(), &no_bwrap(false)).await;
    assert!(matches!(sb.isolation(), Isolation::Unavailable(_)));
    assert_eq!(sb.protections().isolation, "unavailable");
    assert!(!sb.protections().exec_tools_enabled);
    let err = sb
        .run(ExecRequest {
            program: "true".into(),
            timeout: T,
            ..ExecRequest::default()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("apt-get install bubblewrap"), "{err}");
    assert!(err.contains("MINI_AGENT_ALLOW_UNSANDBOXED=1"), "{err}");
}

#[tokio::test]
async fn unsandboxed_when_allowed_env_is_cleared_limits_apply_and_timeouts_kill_the_group() {
    std::env::set_var("SCILLM_MA_TEST_SECRET", "s3cr3t-value-xyz");
    let sb = Sandbox::detect(SandboxSettings::default(), &no_bwrap(true)).await;
    assert_eq!(sb.isolation(), &Isolation::Unsandboxed);
    let p = sb.protections();
    assert_eq!(p.isolation, "none");
    assert!(!p.network_isolated && !p.limitations.is_empty());
    let out = python(&sb, "import os, resource\nprint(os.environ.get('SCILLM_MA_TEST_SECRET'))\nprint(resource.getrlimit(resource.RLIMIT_FSIZE)[0])\nprint(os.environ['HOME'] == os.getcwd())", T).await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        vec!["None", &(16 * 1024 * 1024).to_string(), "True"],
        "{out:?}"
    );
    let m = marker();
    let out = python(
        &sb,
        &format!("import subprocess, time\nsubprocess.Popen(['sleep','{m}'])\ntime.sleep(300)\n"),
        Duration::from_secs(2),
    )
    .await;
    assert!(out.timed_out);
    // The group kill is immediate, but init may reap the orphan a moment later.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_with(&m).is_empty() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(processes_with(&m), Vec::<u32>::new());
}

#[test]
fn server_paths_include_the_working_directory_and_given_files() {
    let paths = bwrap::server_paths(&["/srv/creds/auth.json".into()]);
    assert!(paths.contains(&std::env::current_dir().unwrap()));
    assert!(paths.contains(&"/srv/creds/auth.json".into()));
}
