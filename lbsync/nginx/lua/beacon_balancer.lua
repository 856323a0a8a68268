-- beacon's balancer for nginx (lbsync --nginx-mode dynamic).
--
-- lbsync writes every service's endpoint set into the shared dict through the
-- control location (control()), and the upstream's balancer_by_lua_block
-- (balance()) picks a peer from it: endpoint changes go live without a reload.
-- The config file still lists each service's servers, tagged with the
-- version they were written at; while the dict holds nothing newer (a freshly
-- started nginx, an lbsync that never pushed), balance() sets no peer and
-- nginx's own round robin serves the file's servers.
--
-- Dict layout (ngx.shared.beacon_upstreams):
--   version        the last version lbsync pushed (read back to confirm a push)
--   s:<service>    "<version> <max_fails> <fail_timeout>\n<ip> <port> <weight>\n…"
--   v:<service>    the version of s:<service>, read on every request (cheap)
-- Each worker parses s:<service> once per version (cache below).

local balancer = require("ngx.balancer")

local M = {}
local DICT = "beacon_upstreams"
local MAX_TRIES = 3

local secret            -- read from a 0600 file by the master (init), never logged
local structure = ""    -- the structure signature of the config nginx loaded
local cache = {}        -- per worker: service -> parsed set
local fails = {}        -- per worker: "ip port" -> { count, first, down_until }

function M.init(secret_file, signature)
  local f = assert(io.open(secret_file, "r"))
  secret = f:read("*l")
  f:close()
  assert(secret and #secret >= 32, "beacon: the control secret is too short")
  structure = signature or ""
end

-- Validation: the same rules lbsync applies, again, on this side.
local SERVICE = "^[a-z0-9][a-z0-9._-]*$"

local function ipv4(s)
  local a, b, c, d = s:match("^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  if not a then return false end
  for _, o in ipairs({ a, b, c, d }) do
    if tonumber(o) > 255 or (#o > 1 and o:sub(1, 1) == "0") then return false end
  end
  return true
end

local function ipv6(s)
  if #s < 2 or #s > 39 or not s:match("^[0-9a-fA-F:]+$") then return false end
  local _, doubles = s:gsub("::", "")
  if doubles > 1 or s:find(":::", 1, true) then return false end
  local groups = 0
  for g in s:gmatch("[^:]+") do
    if #g > 4 then return false end
    groups = groups + 1
  end
  if doubles == 0 then return groups == 8 end
  return groups <= 7
end

local function int(s, min, max)
  if not s or not s:match("^%d+$") or #s > 16 then return nil end
  local n = tonumber(s)
  if n < min or n > max then return nil end
  return n
end

-- Parses one stored set; nil when it is not in the stored form. Each peer
-- that `previous` (this worker's last set of the service) also had keeps its
-- round-robin weight: a rolling deploy pushes many times a second, and a
-- round robin restarted at every push would send nearly every request to
-- the first peers of the list.
local function parse(text, previous)
  if not text then return nil end
  local before = {}
  if previous then
    for _, p in ipairs(previous.peers) do before[p.key] = p.current end
  end
  local set = { peers = {} }
  for line in text:gmatch("[^\n]+") do
    if not set.version then
      local v, mf, ft = line:match("^(%d+) (%d+) (%d+)$")
      if not v then return nil end
      set.version, set.max_fails, set.fail_timeout = tonumber(v), tonumber(mf), tonumber(ft)
    else
      local ip, port, weight = line:match("^(%S+) (%d+) (%d+)$")
      if not ip then return nil end
      -- set_current_peer parses its host like a URL: an IPv6 literal needs brackets.
      local host = ip:find(":", 1, true) and "[" .. ip .. "]" or ip
      local key = ip .. " " .. port
      set.peers[#set.peers + 1] = { host = host, port = tonumber(port), weight = tonumber(weight), current = before[key] or 0, key = key }
    end
  end
  if not set.version then return nil end
  return set
end

local function down(peer, now)
  local f = fails[peer.key]
  return f and f.down_until and f.down_until > now
end

-- The first try: nginx's smooth weighted round robin over the peers not
-- marked down (then, as nginx does when every server is down, over all).
-- A retry: a weighted random pick among the peers this request has not tried
-- and that are not marked down. Round robin would retry the next peers in the
-- list, and peers that fail together are often neighbours there (a rolling
-- deploy replaces instances in name order), so all tries could land on them.
local function pick(set, tried, retry)
  local now = ngx.now()
  for pass = 1, 3 do
    local best, total = nil, 0
    for _, p in ipairs(set.peers) do
      if (pass == 3 or not tried[p.key]) and (pass >= 2 or not down(p, now)) then
        total = total + p.weight
        if retry then
          if math.random() * total < p.weight then best = p end
        else
          p.current = p.current + p.weight
          if not best or p.current > best.current then best = p end
        end
      end
    end
    if best then
      if not retry then best.current = best.current - total end
      return best
    end
  end
end

-- Passive failure marking, like max_fails/fail_timeout: max_fails failures
-- within fail_timeout seconds take the peer out for fail_timeout seconds.
local function mark_failed(set, peer)
  if set.max_fails == 0 then return end
  local now = ngx.now()
  local f = fails[peer.key]
  if not f or now - f.first > set.fail_timeout then
    f = { count = 0, first = now }
    fails[peer.key] = f
  end
  f.count = f.count + 1
  if f.count >= set.max_fails then
    f.down_until = now + set.fail_timeout
    f.count, f.first = 0, now
  end
end

-- The service's set in the dict, parsed once per version per worker; nil
-- when the dict holds nothing at least as new as `min_version`.
local function current_set(service, min_version)
  local v = ngx.shared[DICT]:get("v:" .. service)
  if not v or v < min_version then return nil end
  local set = cache[service]
  if not set or set.version ~= v then
    set = parse(ngx.shared[DICT]:get("s:" .. service), cache[service])
    if not set then return nil end
    cache[service] = set
  end
  return set
end

-- The upstream's balancer: `file_version` is the version of the servers the
-- config file lists; the dict is used only when it holds that or newer.
function M.balance(service, file_version)
  local ctx = ngx.ctx
  local set = ctx.beacon_set
  if set then
    local state = balancer.get_last_failure()
    if state and ctx.beacon_peer then mark_failed(set, ctx.beacon_peer) end
    -- A retry picks from the newest set: a push since the first try (in a
    -- rolling deploy, the failed peer's removal) knows better than the old set.
    local newer = current_set(service, set.version + 1)
    if newer and #newer.peers > 0 then
      set = newer
      ctx.beacon_set = set
    end
  else
    set = current_set(service, file_version)
    if not set then return end
    if #set.peers == 0 then
      -- The file's placeholder (127.0.0.1:1 down) answers 502; an exit from
      -- this phase would be a 500, so connect to the same refused port.
      return balancer.set_current_peer("127.0.0.1", 1)
    end
    ctx.beacon_set, ctx.beacon_tried = set, {}
    local more = math.min(#set.peers - 1, MAX_TRIES - 1)
    if more > 0 then balancer.set_more_tries(more) end
  end
  local peer = pick(set, ctx.beacon_tried, ctx.beacon_peer ~= nil)
  ctx.beacon_peer = peer
  ctx.beacon_tried[peer.key] = true
  local ok, err = balancer.set_current_peer(peer.host, peer.port)
  if not ok then
    ngx.log(ngx.ERR, "beacon: cannot use peer ", peer.key, " of ", service, ": ", err)
    return ngx.exit(502)
  end
end

-- Parses and validates a whole push; returns the sets or nil and the reason.
-- Body:
--   version <V>
--   service <name> <version> <max_fails> <fail_timeout>
--   peer <ip> <port> <weight>      (any number, after their service)
local function parse_push(body)
  local version, sets, current = nil, {}, nil
  local n = 0
  for line in body:gmatch("[^\n]+") do
    n = n + 1
    local word = line:match("^(%S+)")
    if word == "version" and n == 1 then
      version = int(line:match("^version (%S+)$"), 1, 9007199254740991)
      if not version then return nil, "line 1: version must be a positive integer" end
    elseif word == "service" and version then
      local name, v, mf, ft = line:match("^service (%S+) (%S+) (%S+) (%S+)$")
      if not name or #name > 63 or not name:match(SERVICE) then return nil, "line " .. n .. ": bad service name" end
      v, mf, ft = int(v, 1, version), int(mf, 0, 1000), int(ft, 0, 86400)
      if not (v and mf and ft) then return nil, "line " .. n .. ": version, max_fails or fail_timeout out of range" end
      current = { name = name, lines = { v .. " " .. mf .. " " .. ft } }
      sets[#sets + 1] = current
    elseif word == "peer" and current then
      local ip, port, weight = line:match("^peer (%S+) (%S+) (%S+)$")
      if not ip or not (ipv4(ip) or ipv6(ip)) then return nil, "line " .. n .. ": peer address must be an IPv4 or IPv6 literal" end
      port, weight = int(port, 1, 65535), int(weight, 1, 100)
      if not (port and weight) then return nil, "line " .. n .. ": port must be 1-65535 and weight 1-100" end
      current.lines[#current.lines + 1] = ip .. " " .. port .. " " .. weight
    else
      return nil, "line " .. n .. ": expected version, service or peer"
    end
  end
  if not version then return nil, "empty push" end
  return { version = version, sets = sets }
end

local function reply(status, text)
  ngx.status = status
  ngx.say(text)
  return ngx.exit(status)
end

-- The control location: GET reports what this nginx holds; POST stores a push.
function M.control()
  local given = ngx.var.http_x_beacon_secret
  if not secret or not given or given ~= secret then return reply(403, "forbidden") end
  local dict = ngx.shared[DICT]
  local method = ngx.req.get_method()
  if method == "POST" then
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then return reply(413, "body missing or larger than the buffer") end
    local push, why = parse_push(body)
    if not push then
      ngx.log(ngx.WARN, "beacon: refused a push: ", why)
      return reply(400, why)
    end
    -- Set before version, so a reader never sees a version without its set.
    for _, s in ipairs(push.sets) do
      local ok, err = dict:safe_set("s:" .. s.name, table.concat(s.lines, "\n"))
      if ok then ok, err = dict:safe_set("v:" .. s.name, tonumber(s.lines[1]:match("^%d+"))) end
      if not ok then return reply(507, "cannot store " .. s.name .. ": " .. tostring(err)) end
    end
    dict:set("version", push.version)
  elseif method ~= "GET" then
    return reply(405, "GET or POST")
  end
  return reply(200, "version " .. (dict:get("version") or 0) .. "\nstructure " .. structure)
end

return M
