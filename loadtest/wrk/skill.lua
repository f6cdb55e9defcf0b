-- wrk script: POST Open Builder skill requests, rotating through the seeded members' user keys.
--
--   wrk -t1 -c50 -d10s --latency -s loadtest/wrk/skill.lua http://127.0.0.1:8080/skill
--
-- Environment (all optional):
--   WRK_UTTERANCE        what the users say ("메뉴": the bot's cheapest real path, one query)
--   WRK_MEMBERS          how many seeded keys to rotate through (1000, as loadtest/seed.py seeds)
--   WRK_KEY_FORMAT       string.format pattern of a key ("load-member-%05d")
--   SKILL_SECRET         sent in SKILL_SECRET_HEADER (X-Skill-Secret) when set
-- At the end it prints one line "WRK_JSON {...}" (requests, req/s, errors, latency percentiles in
-- ms) for scripts to read. wrk is closed-loop: use loadtest/openloop.py for latency at a fixed rate.

local utterance = os.getenv("WRK_UTTERANCE") or "메뉴"
local members = tonumber(os.getenv("WRK_MEMBERS") or "1000")
local key_format = os.getenv("WRK_KEY_FORMAT") or "load-member-%05d"
local secret = os.getenv("SKILL_SECRET")
local secret_header = os.getenv("SKILL_SECRET_HEADER") or "X-Skill-Secret"

local thread_count = 0
local requests = {}
local position = 0

function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
end

local function json_string(text)
  local escaped = text:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. escaped .. '"'
end

-- The request of surveybot.kakao.payload.build_payload() (service/), for typed text.
local function body(key)
  local k = json_string(key)
  local pf = json_string("pf" .. key:sub(-10))
  return '{"intent":{"id":"65f0c2a1b7e3d51a2c9f0a11","name":"폴백 블록"},'
    .. '"userRequest":{"timezone":"Asia/Seoul","params":{"surface":"Kakaotalk.plusfriend"},'
    .. '"block":{"id":"65f0c2a1b7e3d51a2c9f0a11","name":"폴백 블록"},'
    .. '"utterance":' .. json_string(utterance) .. ',"lang":"ko",'
    .. '"user":{"id":' .. k .. ',"type":"botUserKey","properties":{"botUserKey":' .. k
    .. ',"bot_user_key":' .. k .. ',"plusfriendUserKey":' .. pf .. ',"plusfriend_user_key":' .. pf
    .. ',"isFriend":true}}},'
    .. '"bot":{"id":"65e9d0f1a2b3c4d5e6f70812","name":"행정봇"},'
    .. '"action":{"id":"65f0c29f","name":"survey_skill","params":{},"detailParams":{},"clientExtra":{}},'
    .. '"contexts":[],"flow":{"trigger":{"type":"TEXT_INPUT"},'
    .. '"lastBlock":{"id":"65f0c2a1b7e3d51a2c9f0a11","name":"폴백 블록"}}}'
end

function init(args)
  local headers = { ["Content-Type"] = "application/json;charset=UTF-8" }
  if secret and secret ~= "" then
    headers[secret_header] = secret
  end
  for i = 1, members do
    requests[i] = wrk.format("POST", wrk.path, headers, body(string.format(key_format, i)))
  end
  -- Threads start at different keys, so they do not walk the same users in step.
  position = ((thread_number or 0) * 7919) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  local function ms(value) return value / 1000 end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"requests_per_second":%.1f,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}}\n',
    summary.requests, seconds, summary.requests / seconds,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    ms(latency.mean), ms(latency:percentile(50)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency.max)))
end
