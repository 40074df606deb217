// Package simulator is a fake Zigbee2MQTT 2.x bridge for tests and demos.
//
// It behaves on the wire like the real bridge (see shared/z2m-protocol.md):
// it publishes the retained bridge topics (bridge/state, bridge/info,
// bridge/devices, bridge/groups) and per-entity availability, answers
// /set and /get commands per each device's exposes with Zigbee2MQTT's
// exact error wording, echoes optimistic state, propagates member changes to
// groups, stores and recalls scenes, answers bridge requests and injects
// faults (offline, dropped commands, latency).
//
// The core is an engine that consumes (topic, payload) pairs and emits
// publishes through a small Publisher interface; Simulator wires that engine
// to an MQTT broker. All engine state lives on one goroutine, fed by an
// unbounded queue, so MQTT handlers never block; delayed publishes are kept
// in a time-ordered schedule so per-device output stays in order.
//
// The simulator deliberately does not import the devices package: it is the
// other side of the wire and must not share the client's parsing bugs.
package simulator
