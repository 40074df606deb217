// Package mqtt is z2m-mcp's connection to an MQTT broker.
//
// It is the only package in the module that imports the Eclipse Paho client
// (under the alias paho), and no paho type appears in its API. A [Client]
// parses the broker URL (tcp://, mqtt://, ssl://, mqtts://, ws://, wss://),
// sets up TLS and credentials, remembers its subscriptions and renews them on
// every (re)connect so the broker re-delivers retained topics, reconnects with
// exponential backoff, and bounds every wait on the broker by a context and a
// timeout. Publishing while disconnected fails at once with [ErrNotConnected]:
// a command is never queued and replayed minutes later.
//
// The package also runs an in-process broker ([StartEmbeddedBroker], on
// mochi-mqtt) for `z2m-mcp --demo` and as the last-resort broker in tests, and
// offers [ValidTopicName] for callers that build topics from user input.
//
// Handlers run in order on paho's delivery goroutine (ordered delivery keeps
// state updates in sequence), so they must not block.
package mqtt
