//! Key names and the Lua scripts that keep rate-limit, cooldown and rotation state in Redis.
//!
//! Each script reads the clock with `TIME` inside Redis, so processes on machines whose
//! clocks differ still agree. Times are integer microseconds, written with `%.0f` because
//! Redis turns a bare Lua number into text with only 14 significant digits.

use redis::Script;

/// Prefix of every key this crate writes (SPEC §18).
pub const KEY_PREFIX: &str = "scillm:";

/// Key of `deployment`'s request allowance (its GCRA theoretical arrival time).
pub fn rpm_key(deployment: &str) -> String {
    format!("{KEY_PREFIX}rl:rpm:{deployment}")
}

/// Key of `deployment`'s token allowance.
pub fn tpm_key(deployment: &str) -> String {
    format!("{KEY_PREFIX}rl:tpm:{deployment}")
}

/// Key that exists (with a TTL) while `deployment` cools down.
pub fn cooldown_key(deployment: &str) -> String {
    format!("{KEY_PREFIX}cooldown:{deployment}")
}

/// Key of `model_name`'s rotation counter.
pub fn rotation_key(model_name: &str) -> String {
    format!("{KEY_PREFIX}rr:{model_name}")
}

/// Lifetime of a rotation counter after its last use, in seconds.
pub const ROTATION_TTL_S: u64 = 86_400;

/// GCRA over both limits at once. KEYS: rpm key, tpm key, and optionally the deployment's
/// cooldown key. ARGV: rpm, tpm (0 = unlimited), tokens, and optionally the number of
/// requests `n` (default 1) admitted together, all or none, exactly as `n` requests
/// admitted one after another at the same instant (so a group never uses the widened
/// tolerance a single large request gets). Returns 0 when admitted (both charged), a
/// positive wait in microseconds (nothing charged), or — when the cooldown key is given
/// and the deployment cools down — minus the cooldown's remaining milliseconds (nothing
/// charged). Each key expires when its allowance is fully replenished, when it
/// would carry no information any more.
const ACQUIRE: &str = r#"
if KEYS[3] then
  local left = redis.call('PTTL', KEYS[3])
  if left > 0 then return -left end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[4] or '1')
local function plan(key, per_min, cost, wide)
  if per_min <= 0 then return nil end
  local interval = 60000000 / per_min
  local burst = math.max(1, math.floor(per_min / 60))
  local tolerance = interval * burst
  if wide then tolerance = interval * math.max(burst, cost) end
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  return {new_tat, new_tat - now - tolerance}
end
local a = plan(KEYS[1], tonumber(ARGV[1]), n, false)
local b = plan(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), n == 1)
local wait = 0
if a and a[2] > wait then wait = a[2] end
if b and b[2] > wait then wait = b[2] end
if wait > 0 then return math.ceil(wait) end
if a then
  redis.call('SET', KEYS[1], string.format('%.0f', a[1]), 'PX', math.ceil((a[1] - now) / 1000) + 1000)
end
if b then
  redis.call('SET', KEYS[2], string.format('%.0f', b[1]), 'PX', math.ceil((b[1] - now) / 1000) + 1000)
end
return 0
"#;

/// Move the token allowance by `delta` tokens. KEYS: tpm key. ARGV: tpm, delta.
const CORRECT: &str = r#"
local per_min = tonumber(ARGV[1])
if per_min <= 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
tat = tat + (60000000 / per_min) * tonumber(ARGV[2])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return 0
"#;

/// Start a cooldown unless a longer one runs. KEYS: cooldown key. ARGV: milliseconds.
const COOLDOWN: &str = r#"
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 0
"#;

/// Increment a rotation counter and renew its TTL. KEYS: rotation key. ARGV: TTL seconds.
const ROTATE: &str = r#"
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n - 1
"#;

/// The scripts, loaded once (EVALSHA, with EVAL when the server does not know them yet).
pub(crate) struct Scripts {
    pub(crate) acquire: Script,
    pub(crate) correct: Script,
    pub(crate) cooldown: Script,
    pub(crate) rotate: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            acquire: Script::new(ACQUIRE),
            correct: Script::new(CORRECT),
            cooldown: Script::new(COOLDOWN),
            rotate: Script::new(ROTATE),
        }
    }
}
