// Package mqtttest hands a test a real MQTT broker, the way net/http/httptest
// hands it an HTTP server.
//
// [New] picks, in order:
//
//  1. the broker named by Z2M_MCP_TEST_BROKER (a URL, Kind "env"; it cannot
//     be stopped or restarted);
//  2. an eclipse-mosquitto:2 container through testcontainers-go, only when
//     a Docker engine answers a quick ping (Kind "container");
//  3. a mosquitto binary on PATH (or /usr/sbin/mosquitto) on a free loopback
//     port, with a configuration written to the test's temp dir and
//     persistence on, so retained messages survive a restart (Kind
//     "mosquitto");
//  4. the embedded mochi-mqtt broker from package mqtt (Kind "embedded").
//
// Z2M_MCP_TEST_BROKER_KIND=env|container|mosquitto|embedded forces one kind
// (the test is skipped if that kind is unavailable), e.g. to run the suite
// against the embedded broker on a machine that has mosquitto.
//
// Each call starts its own broker on its own port, so parallel tests do not
// collide, and t.Cleanup stops it. The test log says which kind was used and
// why the ones before it were passed over.
package mqtttest
