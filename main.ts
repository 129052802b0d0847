import { App } from 'cdktf';
import { AwsGpuStack } from './stacks/aws-gpu';

const app = new App();
new AwsGpuStack(app, 'aws-gpu');
app.synth();
