-- flows.lua: Pktgen-DPDK profile that looks, to a tap appliance, like
-- NUM_FLOWS conversations seen in both directions.
--
-- Wiring: pktgen port PORT_A -> devourer port 0 (the "client to server" side
-- of a tap), pktgen port PORT_B -> devourer port 1 (the "server to client"
-- side). Port A sends client_i:CLIENT_PORT -> SERVER_IP:SERVER_PORT for
-- i = 1..NUM_FLOWS; port B sends the exact reverse. Range mode steps the
-- client address by one per packet and wraps, so each port sends every flow
-- once per NUM_FLOWS packets and devourer should report NUM_FLOWS flows, all
-- "established", with packets split evenly between the two directions.
-- Only the client address varies, so devourer's default RSS (addresses only)
-- spreads the flows evenly over its workers.
--
-- Run: pktgen -l 0-4 -n 4 -a <pciA> -a <pciB> -- -P -m "[1:2].0,[3:4].1" -f flows.lua
-- See docs/benchmarking.md for the whole procedure and what to compare.

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

---------------------------------------------------------------- parameters
local NUM_FLOWS   = 100000        -- distinct flows (1 .. 16777214)
local RATE_PCT    = 10            -- per port, percent of line rate (1..100)
local PKT_SIZE    = 64            -- pktgen size incl. 4-byte FCS (64..1518);
                                  -- devourer counts PKT_SIZE - 4 bytes a packet
local PROTO       = "udp"         -- "udp" or "tcp"
local DURATION_S  = 60            -- seconds to send; 0 = until "stop all"
local CLIENT_BASE = "10.0.0.0"    -- clients are CLIENT_BASE + 1 .. + NUM_FLOWS
local SERVER_IP   = "172.16.0.1"
local CLIENT_PORT = 40000
local SERVER_PORT = 443
local PORT_A      = "0"           -- pktgen port ids
local PORT_B      = "1"
-- Devourer's ports run promiscuous; these only need to be unicast.
local CLIENT_MAC  = "02:00:00:00:00:01"
local SERVER_MAC  = "02:00:00:00:00:02"
---------------------------------------------------------------------------

local function ip_to_int(s)
	local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
	assert(a, "not an IPv4 address: " .. s)
	return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

local function int_to_ip(n)
	local d = n % 256; n = (n - d) / 256
	local c = n % 256; n = (n - c) / 256
	local b = n % 256; n = (n - b) / 256
	return string.format("%d.%d.%d.%d", n % 256, b, c, d)
end

assert(NUM_FLOWS >= 1 and NUM_FLOWS <= 16777214, "NUM_FLOWS out of range")
assert(PKT_SIZE >= 64 and PKT_SIZE <= 1518, "PKT_SIZE out of range")
assert(PROTO == "udp" or PROTO == "tcp", "PROTO must be udp or tcp")

local first_client = int_to_ip(ip_to_int(CLIENT_BASE) + 1)
local last_client = int_to_ip(ip_to_int(CLIENT_BASE) + NUM_FLOWS)

-- A range field that never changes: start = min = max, inc = 0.
local function fixed(fn, port, value, zero)
	fn(port, "start", value)
	fn(port, "min", value)
	fn(port, "max", value)
	fn(port, "inc", zero)
end

-- The client address walks first..last by one and wraps.
local function walking(fn, port)
	fn(port, "start", first_client)
	fn(port, "min", first_client)
	fn(port, "max", last_client)
	fn(port, "inc", "0.0.0.1")
end

local function set_proto(port)
	-- Newer pktgen sets the range protocol separately from single mode.
	if pktgen.range.ip_proto then
		pktgen.range.ip_proto(port, PROTO)
	end
	pktgen.set_proto(port, PROTO)
end

pktgen.stop("all")

-- Port A: client -> server.
pktgen.range.src_mac(PORT_A, "start", CLIENT_MAC)
pktgen.range.dst_mac(PORT_A, "start", SERVER_MAC)
walking(pktgen.range.src_ip, PORT_A)
fixed(pktgen.range.dst_ip, PORT_A, SERVER_IP, "0.0.0.0")
fixed(pktgen.range.src_port, PORT_A, CLIENT_PORT, 0)
fixed(pktgen.range.dst_port, PORT_A, SERVER_PORT, 0)

-- Port B: the same flows, server -> client.
pktgen.range.src_mac(PORT_B, "start", SERVER_MAC)
pktgen.range.dst_mac(PORT_B, "start", CLIENT_MAC)
fixed(pktgen.range.src_ip, PORT_B, SERVER_IP, "0.0.0.0")
walking(pktgen.range.dst_ip, PORT_B)
fixed(pktgen.range.src_port, PORT_B, SERVER_PORT, 0)
fixed(pktgen.range.dst_port, PORT_B, CLIENT_PORT, 0)

for _, port in ipairs({ PORT_A, PORT_B }) do
	set_proto(port)
	fixed(pktgen.range.pkt_size, port, PKT_SIZE, 0)
	pktgen.set(port, "rate", RATE_PCT)
	pktgen.set(port, "count", 0)
end
local ports = PORT_A .. "," .. PORT_B
pktgen.set_range(ports, "on")

print(string.format("flows.lua: %d %s flows %s..%s <-> %s:%d, %d-byte frames at %d%% per port",
	NUM_FLOWS, PROTO, first_client, last_client, SERVER_IP, SERVER_PORT, PKT_SIZE, RATE_PCT))

if DURATION_S > 0 then
	pktgen.clr()
	pktgen.start(ports)
	pktgen.delay(DURATION_S * 1000)
	pktgen.stop(ports)
	-- Let the last packets leave before the counters are read.
	pktgen.delay(1000)
	print(string.format("flows.lua: sent for %d s; compare devourer's rx packets with the " ..
		"TX counters of ports %s (page stats)", DURATION_S, ports))
else
	print("flows.lua: configured; type 'start " .. ports .. "' to send, 'stop all' to end")
end
