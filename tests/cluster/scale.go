package main

// scale.go is the seed-scale subcommand: it fills a running cluster with many objects
// (namespaces, StorageClasses, IngressClasses, Deployments) for the probe benchmark.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

type scaleResult struct {
	Namespaces     int     `json:"namespaces"`
	StorageClasses int     `json:"storageclasses"`
	IngressClasses int     `json:"ingressclasses"`
	Deployments    int     `json:"deployments"`
	Created        int64   `json:"created"`
	Existing       int64   `json:"already_existed"`
	Seconds        float64 `json:"seconds"`
}

func runSeedScale(args []string) int {
	fs := flag.NewFlagSet("seed-scale", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig written by serve (required)")
	context_ := fs.String("context", "admin", "kubeconfig context to use")
	var r scaleResult
	fs.IntVar(&r.Namespaces, "namespaces", 2000, "namespaces scale-ns-NNNN")
	fs.IntVar(&r.StorageClasses, "storageclasses", 50, "StorageClasses scale-sc-NN")
	fs.IntVar(&r.IngressClasses, "ingressclasses", 10, "IngressClasses scale-ic-NN")
	fs.IntVar(&r.Deployments, "deployments", 500, "Deployments scale-deploy-NNNN, spread over the namespaces")
	workers := fs.Int("workers", 16, "concurrent requests")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" {
		logf("seed-scale: --kubeconfig is required")
		return 2
	}
	if r.Deployments > 0 && r.Namespaces == 0 {
		logf("seed-scale: deployments need at least one namespace")
		return 2
	}
	cfg, err := restConfig(*kubeconfig, *context_)
	if err != nil {
		logf("seed-scale: %v", err)
		return 1
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		logf("seed-scale: %v", err)
		return 1
	}
	start := time.Now()
	ctx := context.Background()
	// Namespaces first: the deployments need them to exist.
	phases := [][]func() error{nil, nil}
	for i := 0; i < r.Namespaces; i++ {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace(i), Labels: map[string]string{"kube-test-cluster/scale": "true"}}}
		phases[0] = append(phases[0], func() error {
			_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			return err
		})
	}
	for i := 0; i < r.StorageClasses; i++ {
		sc := scaleStorageClass(i)
		phases[0] = append(phases[0], func() error {
			_, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
			return err
		})
	}
	for i := 0; i < r.IngressClasses; i++ {
		ic := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-ic-%02d", i)},
			Spec:       networkingv1.IngressClassSpec{Controller: fmt.Sprintf("example.com/scale-controller-%d", i)},
		}
		phases[0] = append(phases[0], func() error {
			_, err := cs.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
			return err
		})
	}
	for i := 0; i < r.Deployments; i++ {
		d := scaleDeployment(i, scaleNamespace(i%r.Namespaces))
		phases[1] = append(phases[1], func() error {
			_, err := cs.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{})
			return err
		})
	}
	for _, jobs := range phases {
		if err := runConcurrently(jobs, *workers, &r); err != nil {
			logf("seed-scale: %v", err)
			return 1
		}
	}
	r.Seconds = time.Since(start).Seconds()
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	return 0
}

// runConcurrently runs jobs on n workers; AlreadyExists counts as done so reruns are cheap.
func runConcurrently(jobs []func() error, n int, r *scaleResult) error {
	ch := make(chan func() error)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range ch {
				err := job()
				switch {
				case err == nil:
					atomic.AddInt64(&r.Created, 1)
				case apierrors.IsAlreadyExists(err):
					atomic.AddInt64(&r.Existing, 1)
				default:
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return firstErr
}

func scaleNamespace(i int) string { return fmt.Sprintf("scale-ns-%04d", i) }

func scaleStorageClass(i int) *storagev1.StorageClass {
	mode := storagev1.VolumeBindingImmediate
	if i%2 == 1 {
		mode = storagev1.VolumeBindingWaitForFirstConsumer
	}
	return &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: fmt.Sprintf("scale-sc-%02d", i)},
		Provisioner:          fmt.Sprintf("example.com/scale-provisioner-%d", i%5),
		VolumeBindingMode:    &mode,
		AllowVolumeExpansion: ptr.To(i%3 != 0),
	}
}

func scaleDeployment(i int, namespace string) *appsv1.Deployment {
	labels := map[string]string{"app": fmt.Sprintf("scale-%04d", i)}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-deploy-%04d", i), Namespace: namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: fmt.Sprintf("example.invalid/scale/app:%d", i),
				}}},
			},
		},
	}
}
