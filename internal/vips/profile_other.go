//go:build !linux

package vips

// profileFile would make data a file libvips can open by name; elsewhere
// than Linux it does not, and conversions use libvips' own sRGB profile.
func profileFile([]byte) string { return "" }
