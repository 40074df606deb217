// Package devices is the live model of a Zigbee2MQTT installation: bridge,
// devices with their exposes, groups, scenes, availability and state, fed by
// the MQTT messages Zigbee2MQTT publishes (HandleMessage). Devices are keyed
// by IEEE address; friendly names are resolved against the names Zigbee2MQTT
// announced, never by splitting topics on '/'.
//
// It also turns semantic intents into Zigbee2MQTT payloads and confirms that
// devices reached the commanded state. It imports no transport: it publishes
// through the small Publisher interface.
package devices
