// Package browser runs real browsers as LiveKit publishers for tests:
// Debian's headless Chromium, driven by playwright-core through a small
// node script (page/driver.js), each tab a participant running the official
// livekit-client in a page (page/page.js) that this package serves on
// loopback. The tabs publish camera and microphone from Chromium's fake
// capture, fed by files the test makes (MakeMedia), so what reaches the room
// is what a browser's encoder, simulcast and RED really send.
//
// page/package-lock.json pins playwright-core and livekit-client;
// scripts/install-deps.sh test installs them (npm ci, no browser download).
package browser
