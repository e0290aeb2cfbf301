package jobstate

// Error codes carried in state and in API answers.
const (
	CodeInvalidConfig  = "INVALID_CONFIG"
	CodeAlreadyRunning = "ALREADY_RUNNING"
	CodeNotFound       = "NOT_FOUND"
	CodeRoomJoin       = "ROOM_JOIN_FAILED"
	CodeRoomEnded      = "ROOM_ENDED"
	CodeOutput         = "OUTPUT_FAILED"
	CodeRTMP           = "RTMP_FAILED"
	CodeRecording      = "RECORDING_FAILED"
	CodeHLS            = "HLS_FAILED"
	CodeUpload         = "UPLOAD_FAILED"
	CodeInternal       = "INTERNAL"
)

// Error is the contract's error object. Cause is what went wrong underneath,
// for errors.Is and errors.As (an API maps it to a status code); it is not
// part of the contract's JSON, whose message already says it in words.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Cause   error  `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }
