// A grpc-go server for tests/gateway/grpcwire/test_interop.py: the gateway's own gRPC client
// (colonnade.gateway.grpcwire) against Go's HTTP/2 and gRPC implementation (x/net/http2
// framing, strict header validation, BDP flow control, its own GOAWAY), not only grpc-core.
//
// Built offline from Debian's packages (golang-go, golang-google-grpc-dev) in GOPATH mode by
// the test. No generated code: every method is served by one handler on raw bytes.
//
//	/interop.Echo/Unary     echoes the request; metadata x-echo comes back as a header and
//	                        x-echo-trailer as a trailer, x-echo-bin as a binary header
//	/interop.Echo/Fail      NOT_FOUND with a non-ASCII message (grpc-go percent-encodes it)
//	/interop.Echo/Big       the request is a decimal size N: answers N bytes of 'b'
//	/interop.Echo/Stream    the request is a decimal count N: N messages "m<i>" of 1 KiB
//	/interop.Echo/Sleep     waits for the deadline or cancellation, then returns its error
//	/interop.Echo/Counter   how many calls are in flight right now (decimal)
//	/interop.Echo/Stop      stops the server gracefully (GOAWAY) after this call
//	/interop.Echo/Collect   client streaming: answers "<messages> <bytes>" once the client
//	                        half-closes; a message "fail" ends the call ABORTED
//	/interop.Echo/Chat      bidirectional: "hello" before reading, then "echo:<message>" per
//	                        message as it arrives, "bye" after the half-close; "fail" ABORTED
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) String() string { return "proto" }

var inFlight int64
var server *grpc.Server

func handle(_ interface{}, stream grpc.ServerStream) error {
	atomic.AddInt64(&inFlight, 1)
	defer atomic.AddInt64(&inFlight, -1)
	method, _ := grpc.MethodFromServerStream(stream)
	switch method {
	case "/interop.Echo/Collect":
		n, size := 0, 0
		for {
			var m []byte
			err := stream.RecvMsg(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if string(m) == "fail" {
				return status.Error(codes.Aborted, fmt.Sprintf("failed after %d messages", n))
			}
			n, size = n+1, size+len(m)
		}
		out := []byte(fmt.Sprintf("%d %d", n, size))
		return stream.SendMsg(&out)
	case "/interop.Echo/Chat":
		hello := []byte("hello")
		if err := stream.SendMsg(&hello); err != nil {
			return err
		}
		for {
			var m []byte
			err := stream.RecvMsg(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if string(m) == "fail" {
				return status.Error(codes.Aborted, "chat failed")
			}
			out := append([]byte("echo:"), m...)
			if err := stream.SendMsg(&out); err != nil {
				return err
			}
		}
		bye := []byte("bye")
		return stream.SendMsg(&bye)
	}
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	switch method {
	case "/interop.Echo/Unary":
		header := metadata.MD{}
		if v := md.Get("x-echo"); len(v) > 0 {
			header.Set("x-echo", v...)
		}
		if v := md.Get("x-echo-bin"); len(v) > 0 {
			header.Set("x-echo-bin", v...)
		}
		if err := stream.SetHeader(header); err != nil {
			return err
		}
		if v := md.Get("x-echo-trailer"); len(v) > 0 {
			stream.SetTrailer(metadata.Pairs("x-echo-trailer", v[0]))
		}
		return stream.SendMsg(&req)
	case "/interop.Echo/Fail":
		return status.Error(codes.NotFound, "café "+string(req)+" not found: 100% gone")
	case "/interop.Echo/Big":
		n, err := strconv.Atoi(string(req))
		if err != nil {
			return status.Error(codes.InvalidArgument, "size: "+err.Error())
		}
		out := []byte(strings.Repeat("b", n))
		return stream.SendMsg(&out)
	case "/interop.Echo/Stream":
		n, err := strconv.Atoi(string(req))
		if err != nil {
			return status.Error(codes.InvalidArgument, "count: "+err.Error())
		}
		for i := 0; i < n; i++ {
			msg := []byte(fmt.Sprintf("m%d", i))
			msg = append(msg, []byte(strings.Repeat(".", 1024-len(msg)))...)
			if err := stream.SendMsg(&msg); err != nil {
				return err
			}
		}
		return nil
	case "/interop.Echo/Sleep":
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	case "/interop.Echo/Counter":
		out := []byte(strconv.FormatInt(atomic.LoadInt64(&inFlight)-1, 10))
		return stream.SendMsg(&out)
	case "/interop.Echo/Stop":
		go func() { time.Sleep(50 * time.Millisecond); server.GracefulStop() }()
		return stream.SendMsg(&req)
	}
	return status.Error(codes.Unimplemented, "unknown method "+method)
}

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	maxStreams := flag.Uint("max-streams", 0, "MaxConcurrentStreams (0: grpc-go's default)")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := []grpc.ServerOption{grpc.CustomCodec(rawCodec{}), grpc.UnknownServiceHandler(handle)}
	if *maxStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(*maxStreams)))
	}
	server = grpc.NewServer(opts...)
	fmt.Println("listening", lis.Addr().String())
	if err := server.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
