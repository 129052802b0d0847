import { App } from 'cdktf';
import { AwsGpuStack } from './stacks/aws-gpu';
import { HybridGpuStack } from './stacks/hybrid-gpu';

const app = new App();
new AwsGpuStack(app, 'aws-gpu');
new HybridGpuStack(app, 'hybrid-gpu');
app.synth();
