package mcp

import (
	"context"
	"fmt"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

func (s *Server) handleSetLights(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_lights"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("targets", "state", "brightness", "brightness_step", "color_temp_kelvin", "color", "transition", "effect")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	var in devices.LightIntent
	var errs []error
	var e error
	in.State, e = a.enum("state", "on", "off", "toggle")
	errs = append(errs, e)
	in.Brightness, e = a.num("brightness", 0, 100)
	errs = append(errs, e)
	in.BrightnessStep, e = a.num("brightness_step", -100, 100)
	errs = append(errs, e)
	in.ColorTempKelvin, e = a.num("color_temp_kelvin", 1000, 10000)
	errs = append(errs, e)
	in.Color, e = a.str("color")
	errs = append(errs, e)
	in.Transition, e = a.num("transition", 0, 3600)
	errs = append(errs, e)
	in.Effect, e = a.str("effect")
	errs = append(errs, e)
	names, e := a.names("targets", true)
	errs = append(errs, e)
	if err := firstErr(errs); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if err := devices.ValidateLightIntent(in); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	return s.runSetter(ctx, tool, a, names, []string{devices.TypeLight}, in.State == "toggle" || in.BrightnessStep != nil, func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildLight(d, in, cur)
	})
}

func (s *Server) handleSetClimate(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_climate"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("targets", "temperature", "unit", "mode", "preset")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	var in devices.ClimateIntent
	var errs []error
	var e error
	in.Temperature, e = a.num("temperature", -50, 150)
	errs = append(errs, e)
	in.Unit, e = a.enum("unit", "C", "F")
	errs = append(errs, e)
	in.Mode, e = a.str("mode")
	errs = append(errs, e)
	in.Preset, e = a.str("preset")
	errs = append(errs, e)
	names, e := a.names("targets", true)
	errs = append(errs, e)
	if err := firstErr(errs); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if err := devices.ValidateClimateIntent(in); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	return s.runSetter(ctx, tool, a, names, []string{devices.TypeClimate}, false, func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildClimate(d, in, cur)
	})
}

func (s *Server) handleSetSwitches(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_switches"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("targets", "state", "endpoint")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	var in devices.SwitchIntent
	var errs []error
	var e error
	in.State, e = a.enum("state", "on", "off", "toggle")
	errs = append(errs, e)
	in.Endpoint, e = a.str("endpoint")
	errs = append(errs, e)
	names, e := a.names("targets", true)
	errs = append(errs, e)
	if err := firstErr(errs); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if err := devices.ValidateSwitchIntent(in); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	return s.runSetter(ctx, tool, a, names, []string{devices.TypeSwitch}, in.State == "toggle", func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildSwitch(d, in, cur)
	})
}

func (s *Server) handleSetCovers(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_covers"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("targets", "position", "action")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	var in devices.CoverIntent
	var errs []error
	var e error
	in.Position, e = a.num("position", 0, 100)
	errs = append(errs, e)
	in.Action, e = a.enum("action", "open", "close", "stop")
	errs = append(errs, e)
	names, e := a.names("targets", true)
	errs = append(errs, e)
	if err := firstErr(errs); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if err := devices.ValidateCoverIntent(in); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	return s.runSetter(ctx, tool, a, names, []string{devices.TypeCover}, false, func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildCover(d, in, cur)
	})
}

func (s *Server) handleSetLocks(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_locks"
	if !s.policy.AllowLocks {
		return toolError("set_locks is disabled on this server (start it with --allow-locks to enable); nothing was sent"), nil
	}
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("targets", "action")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	var in devices.LockIntent
	var errs []error
	var e error
	in.Action, e = a.enum("action", "lock", "unlock")
	errs = append(errs, e)
	names, e := a.names("targets", true)
	errs = append(errs, e)
	if err := firstErr(errs); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if err := devices.ValidateLockIntent(in); err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	if in.Action == "unlock" {
		// Ask only once the targets are known to be valid locks.
		res, err := s.resolveTargets(s.snapshot(ctx), names, devices.TypeLock)
		if err != nil {
			return toolError("%s: %v; nothing was sent", tool, err), nil
		}
		var list []string
		for _, t := range res.targets {
			list = append(list, t.dev.FriendlyName)
		}
		ok, ask, refusal := s.unlockConsent(ctx, req, list)
		if ask != nil {
			return ask, nil
		}
		if !ok {
			return toolError("%s", refusal), nil
		}
	}
	return s.runSetter(ctx, tool, a, names, []string{devices.TypeLock}, false, func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildLock(d, in, cur)
	})
}

func (s *Server) handleSetDevice(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "set_device"
	if !s.policy.AllowRaw {
		return toolError("set_device is disabled on this server (start it with --allow-raw to enable); use set_lights, set_climate, set_switches or set_covers; nothing was sent"), nil
	}
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("name", "payload")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	names, err := a.names("name", true)
	if err == nil && len(names) != 1 {
		err = fmt.Errorf("name must be one device name")
	}
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	payload, err := a.object("payload")
	if err == nil && len(payload) == 0 {
		err = fmt.Errorf("payload must be a non-empty object of property → value")
	}
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	snap := s.snapshot(ctx)
	kind, found := s.lookup(snap, names[0])
	d, ok := found.(*devices.Device)
	if !ok || kind != "device" {
		if found == nil {
			return toolError("%s: %v; nothing was sent", tool, s.unknownName(snap, names[0])), nil
		}
		return toolError("%s: %q is a %s; set_device takes one device", tool, names[0], kind), nil
	}
	return s.runSetter(ctx, tool, a, []string{d.FriendlyName}, nil, false, func(d *devices.Device, cur *devices.State) (devices.Command, error) {
		return devices.BuildRaw(d, payload, cur)
	})
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
